/*
 * spool: the durable copy of accepted, not yet delivered messages
 * (queue.spool, DESIGN §4 and §7).
 *
 * One append-only file, <dir>/queue.spool, of checksummed records:
 *   'M' a message (sequence number, QoS, retain, topic, payload), appended
 *       and fdatasync()ed before the publish is answered "accepted";
 *   'D' "message <seq> is done" (written, sent or acknowledged), appended
 *       without a sync: losing one only means a duplicate after a crash;
 *   'P' "message <seq> went out with packet id <id>" (and, for QoS 2,
 *       whether its PUBREC came back), appended without a sync before the
 *       packet is written, so that after a crash the message is sent
 *       again with the same id, as MQTT 3.1.1 §4.4 asks. A broker that
 *       resumes the session still holds QoS 2 ids it got from the dead
 *       run: a message sent again under a new id leaves the old one held
 *       for ever, and mosquitto counts it against max_inflight_messages.
 * At start the file is read, messages without a 'D' are handed back in
 * order, and the file is rewritten with just those. A record that is cut
 * short or fails its CRC-32 is reported and skipped; the reader finds the
 * next record by its magic bytes, so one bad record loses only itself.
 * The file is emptied whenever nothing is pending, and rewritten with the
 * pending records when it has grown well past them.
 *
 * The record codec (spool_encode / spool_decode) is pure, for tests and
 * fuzzing; the rest does file I/O.
 */
#ifndef OCTO_SPOOL_H
#define OCTO_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SPOOL_FILE "queue.spool"

struct spool;

struct spool_msg {
	uint64_t seq;
	int qos;
	bool retain;
	const char *topic;
	size_t topic_len;
	const void *payload;
	size_t payload_len;
	uint16_t packet_id; /* 'P', and replayed 'M': 0 when never sent */
	bool pubrec;        /* 'P', and replayed 'M': QoS 2, PUBREC received */
};

enum spool_rc {
	SPOOL_OK = 0,
	SPOOL_NEED_MORE = 1, /* a record cut short (at the end of the file) */
	SPOOL_BAD = -1,      /* not a record here: bad magic, length, CRC or fields */
};

/* Append one record: type 'M' (all of m but the packet id), 'D' (m->seq
 * only) or 'P' (seq, packet_id, pubrec). */
void spool_encode(struct buf *out, char type, const struct spool_msg *m);
/*
 * Decode the record at buf[0..len): SPOOL_OK with *type, *m (pointers into
 * buf) and *consumed; SPOOL_NEED_MORE; or SPOOL_BAD.
 */
enum spool_rc spool_decode(const uint8_t *buf, size_t len, char *type, struct spool_msg *m,
                           size_t *consumed);
/* Offset of the next record's magic in buf[from..len), or len. */
size_t spool_resync(const uint8_t *buf, size_t len, size_t from);

typedef void spool_replay_fn(void *ctx, const struct spool_msg *m);
/*
 * Open (creating it if needed) the spool in directory dir, locked against
 * a second daemon. fn is called for each pending message in order (the
 * pointers are valid during the call only), with the packet id it last
 * went out with (0: never sent; no two pending messages share one). NULL
 * with err set on failure.
 */
struct spool *spool_open(const char *dir, spool_replay_fn *fn, void *ctx, char *err, size_t errlen);
/*
 * Write m; sets m->seq. 0, or -1 (logged) if it could not be. Durable
 * after the next spool_sync(): answer "accepted" only then.
 */
int spool_append(struct spool *sp, struct spool_msg *m);
/*
 * fdatasync() what spool_append() wrote since the last call (nothing to
 * do: 0 at once). 0, or -1 with err: those messages may not survive a
 * power cut (they are still queued and delivered if the daemon runs on).
 */
int spool_sync(struct spool *sp, char *err, size_t errlen);
/* The fdatasyncs spool_sync() made. */
uint64_t spool_syncs(const struct spool *sp);
/* Message seq is about to go out with packet id `id` (pubrec false), or
 * its PUBREC came back (true); written before the packet, no sync.
 * Unknown seqs are ignored. */
void spool_sent(struct spool *sp, uint64_t seq, uint16_t id, bool pubrec);
/* Message seq needs no redelivery any more. Unknown seqs are ignored. */
void spool_done(struct spool *sp, uint64_t seq);
/* Messages appended (or replayed) and not done. */
/* Public for the tests: the tests check what is left to deliver. */
size_t spool_pending(const struct spool *sp);
/* Bytes in the spool file now. */
/* Public for the tests: the tests check compaction. */
uint64_t spool_file_size(const struct spool *sp);
void spool_close(struct spool *sp);

#endif
