/*
 * fuzz_spool: libFuzzer harness for the spool record codec (spool_decode,
 * spool_resync, spool_encode), walked over the input the way spool_open()
 * reads a spool file: decode a record where one should start; on a record
 * cut short or damaged, resync to the next magic. Whatever the bytes, it
 * must not crash or read outside them; every record it accepts must be
 * within the input, and encoding what was decoded must give back exactly
 * the bytes of the record (so the codec has one spelling per record).
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INITIALIZER;
	size_t off = 0;

	while (off < size) {
		struct spool_msg m;
		size_t used = 0, next;
		char type = 0;
		enum spool_rc rc = spool_decode(data + off, size - off, &type, &m, &used);

		if (rc != SPOOL_OK) {
			FUZZ_ASSERT(rc == SPOOL_NEED_MORE || rc == SPOOL_BAD);
			next = spool_resync(data, size, off + 1);
			FUZZ_ASSERT(next > off && next <= size);
			FUZZ_ASSERT(next == size || memcmp(data + next, "OQsp", 4) == 0);
			off = next;
			continue;
		}
		FUZZ_ASSERT(type == 'M' || type == 'D' || type == 'P');
		FUZZ_ASSERT(type != 'P' || m.packet_id != 0);
		FUZZ_ASSERT(used >= 9 + 8 + 4 && used <= size - off);
		if (type == 'M') {
			const uint8_t *rec_end = data + off + used;

			FUZZ_ASSERT(m.qos >= 0 && m.qos <= 2 && m.topic_len > 0);
			FUZZ_ASSERT((const uint8_t *)m.topic > data + off);
			FUZZ_ASSERT((const uint8_t *)m.payload ==
			            (const uint8_t *)m.topic + m.topic_len);
			FUZZ_ASSERT((const uint8_t *)m.payload + m.payload_len + 4 == rec_end);
		}
		buf_reset(&out);
		spool_encode(&out, type, &m);
		FUZZ_ASSERT(buf_len(&out) == used);
		FUZZ_ASSERT(memcmp(buf_data(&out), data + off, used) == 0);
		off += used;
	}
	buf_free(&out);
	return 0;
}
