/*
 * fuzz_registry: libFuzzer harness for registry_parse(), the state-file
 * reader. Whatever the bytes, it must not crash or leak; a file it
 * accepts must come back the same when written and read again (same ids,
 * topics, URLs, args and kwargs, in order).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct registry *r = registry_new(NULL), *again;
	struct buf out = BUF_INITIALIZER;
	const char *why = NULL;
	size_t i;

	if (registry_parse(r, (const char *)data, size, &why) != 0) {
		FUZZ_ASSERT(why != NULL && registry_count(r) == 0);
		registry_free(r);
		return 0;
	}
	registry_serialize(r, &out);
	again = registry_new(NULL);
	FUZZ_ASSERT(registry_parse(again, buf_data(&out), buf_len(&out), &why) == 0);
	FUZZ_ASSERT(registry_count(again) == registry_count(r));
	for (i = 0; i < registry_count(r); i++) {
		const struct reg_entry *a = registry_at(r, i), *b = registry_at(again, i);

		FUZZ_ASSERT(strcmp(a->id, b->id) == 0 && strcmp(a->topic, b->topic) == 0);
		FUZZ_ASSERT(strcmp(a->url, b->url) == 0 && strcmp(a->args, b->args) == 0);
		FUZZ_ASSERT(strcmp(a->kwargs, b->kwargs) == 0);
	}
	registry_free(again);
	registry_free(r);
	buf_free(&out);
	return 0;
}
