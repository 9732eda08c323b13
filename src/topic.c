/*
 * topic: MQTT topic-name rules (MQTT 3.1.1 §1.5.3, §4.7), pure.
 */
#include <stdint.h>

#include "topic.h"

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		unsigned char c = *p;
		uint32_t cp;
		size_t n, i;

		if (c < 0x80) {
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false; /* continuation byte, 0xc0/0xc1 overlong lead, > 0xf4 */
		}
		if ((size_t)(end - p) <= n)
			return false;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, UTF-16 surrogates, beyond U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		p += n + 1;
	}
	return true;
}

bool topic_name_valid(const char *s, size_t len, const char **why)
{
	size_t i;

	if (len == 0) {
		*why = "topic is empty";
		return false;
	}
	if (len > 65535) {
		*why = "topic is longer than 65535 bytes";
		return false;
	}
	for (i = 0; i < len; i++) {
		if (s[i] == '\0') {
			*why = "topic contains a NUL character";
			return false;
		}
		if (s[i] == '+' || s[i] == '#') {
			*why = "topic contains a wildcard ('+' or '#')";
			return false;
		}
	}
	if (!utf8_valid(s, len)) {
		*why = "topic is not valid UTF-8";
		return false;
	}
	return true;
}
