/*
 * fuzz_registry: libFuzzer harness for the state-file readers: the bytes
 * as a snapshot (registry_parse) and as a change log over an empty
 * registry (registry_replay). Whatever the bytes, neither may crash or
 * leak; what either accepts must come back the same when written as a
 * snapshot and read again (same ids, topics, URLs, args and kwargs, in
 * order); the log reader never claims more bytes than it was given, and
 * what it leaves is one torn record (no newline).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "registry.h"

static void round_trip(const struct registry *r)
{
	struct registry *again = registry_new(NULL);
	struct buf out = BUF_INITIALIZER;
	const char *why = NULL;
	size_t i;

	registry_serialize(r, &out);
	FUZZ_ASSERT(registry_parse(again, buf_data(&out), buf_len(&out), &why) == 0);
	FUZZ_ASSERT(registry_count(again) == registry_count(r));
	for (i = 0; i < registry_count(r); i++) {
		const struct reg_entry *a = registry_at(r, i), *b = registry_at(again, i);

		FUZZ_ASSERT(strcmp(a->id, b->id) == 0 && strcmp(a->topic, b->topic) == 0);
		FUZZ_ASSERT(strcmp(a->url, b->url) == 0 && strcmp(a->args, b->args) == 0);
		FUZZ_ASSERT(strcmp(a->kwargs, b->kwargs) == 0);
		FUZZ_ASSERT(registry_find(again, a->id) == b);
	}
	registry_free(again);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *why = NULL;
	struct registry *r = registry_new(NULL);
	size_t used = 0, records = 0;

	if (registry_parse(r, text, size, &why) != 0)
		FUZZ_ASSERT(why != NULL && registry_count(r) == 0);
	else
		round_trip(r);
	registry_free(r);

	r = registry_new(NULL);
	why = NULL;
	if (registry_replay(r, text, size, &used, &records, &why) != 0) {
		FUZZ_ASSERT(why != NULL && used < size);
	} else {
		FUZZ_ASSERT(used <= size && memchr(text + used, '\n', size - used) == NULL);
		FUZZ_ASSERT(registry_count(r) <= records);
	}
	round_trip(r);
	registry_free(r);
	return 0;
}
