/*
 * spool: durable copy of accepted, undelivered messages (see spool.h).
 *
 * Record layout, integers little-endian:
 *
 *   "OQsp"  magic, 4 bytes
 *   type    1 byte, 'M', 'D' or 'P'
 *   len     4 bytes, length of body
 *   body    'M': seq (8), qos (1), flags (1, bit 0 retain), topic length
 *                (2), topic, payload (the rest)
 *           'D': seq (8)
 *           'P': seq (8), packet id (2, not 0), flags (1, bit 0 PUBREC)
 *   crc     4 bytes, CRC-32 (IEEE) of type, len and body
 *
 * The pending records are indexed in memory (seq, offset, length), in
 * append order, so seqs are sorted and spool_done() finds one by binary
 * search; compaction copies the pending records by offset, each followed
 * by a fresh 'P' record when it went out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

#define SPOOL_MAGIC     "OQsp"
#define SPOOL_HEAD      9 /* magic, type, len */
#define SPOOL_MSG_FIXED 12
#define SPOOL_SENT_LEN  11 /* body of a 'P' record */
#define SPOOL_MAX_BODY  (SPOOL_MSG_FIXED + 65535u + 268435455u)
#define SPOOL_TMP       SPOOL_FILE ".tmp"
/* Rewrite the file when it is this large and 4 times the pending bytes. */
#define SPOOL_COMPACT_MIN (1u << 20)

struct spool_ent {
	uint64_t seq;
	uint64_t off;
	uint32_t len; /* whole 'M' record */
	uint16_t id;  /* packet id it last went out with, 0: never */
	bool pubrec;
	bool live;
};

struct spool {
	char *sp_dir, *sp_path;
	int sp_fd;            /* the spool file, appending */
	int sp_lockfd;        /* flock()ed for the whole run */
	uint64_t sp_size;     /* file size */
	uint64_t sp_next_seq; /* next seq to hand out */
	struct spool_ent *sp_ent;
	size_t sp_head, sp_n, sp_cap; /* live entries are in [head, n) */
	size_t sp_live;
	uint64_t sp_live_bytes;
	struct buf sp_buf;   /* record being written */
	bool sp_unsynced;    /* 'M' records written since the last fdatasync */
	bool sp_sync_failed; /* an fdatasync failed: the next sync rewrites the file */
	uint64_t sp_syncs;   /* spool_sync()'s fdatasyncs */
};

static uint32_t spool_crc32(const uint8_t *p, size_t n, uint32_t crc)
{
	static uint32_t table[256];
	size_t i;

	if (table[1] == 0) {
		for (uint32_t c = 0; c < 256; c++) {
			uint32_t v = c;

			for (int k = 0; k < 8; k++)
				v = (v & 1) ? 0xedb88320u ^ (v >> 1) : v >> 1;
			table[c] = v;
		}
	}
	crc = ~crc;
	for (i = 0; i < n; i++)
		crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void spool_put_le(struct buf *out, uint64_t v, int n)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	buf_append(out, b, (size_t)n);
}

static uint64_t spool_get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void spool_encode(struct buf *out, char type, const struct spool_msg *m)
{
	size_t start = buf_len(out), len;
	uint32_t crc;

	len = type == 'M'   ? SPOOL_MSG_FIXED + m->topic_len + m->payload_len
	      : type == 'P' ? SPOOL_SENT_LEN
	                    : 8;
	buf_append(out, SPOOL_MAGIC, 4);
	buf_putc(out, type);
	spool_put_le(out, len, 4);
	spool_put_le(out, m->seq, 8);
	if (type == 'P') {
		spool_put_le(out, m->packet_id, 2);
		buf_putc(out, m->pubrec ? 1 : 0);
	} else if (type == 'M') {
		buf_putc(out, m->qos);
		buf_putc(out, m->retain ? 1 : 0);
		spool_put_le(out, m->topic_len, 2);
		buf_append(out, m->topic, m->topic_len);
		if (m->payload_len > 0)
			buf_append(out, m->payload, m->payload_len);
	}
	crc = spool_crc32((const uint8_t *)buf_data(out) + start + 4, 5 + len, 0);
	spool_put_le(out, crc, 4);
}

enum spool_rc spool_decode(const uint8_t *buf, size_t len, char *type, struct spool_msg *m,
                           size_t *consumed)
{
	uint64_t blen;
	const uint8_t *body;

	if (len < SPOOL_HEAD)
		return memcmp(buf, SPOOL_MAGIC, len < 4 ? len : 4) == 0 ? SPOOL_NEED_MORE
		                                                        : SPOOL_BAD;
	if (memcmp(buf, SPOOL_MAGIC, 4) != 0 || (buf[4] != 'M' && buf[4] != 'D' && buf[4] != 'P'))
		return SPOOL_BAD;
	blen = spool_get_le(buf + 5, 4);
	if ((buf[4] == 'D' && blen != 8) || (buf[4] == 'P' && blen != SPOOL_SENT_LEN) ||
	    (buf[4] == 'M' && (blen < SPOOL_MSG_FIXED || blen > SPOOL_MAX_BODY)))
		return SPOOL_BAD;
	if (len - SPOOL_HEAD < blen + 4)
		return SPOOL_NEED_MORE;
	if (spool_crc32(buf + 4, 5 + blen, 0) != (uint32_t)spool_get_le(buf + SPOOL_HEAD + blen, 4))
		return SPOOL_BAD;
	body = buf + SPOOL_HEAD;
	memset(m, 0, sizeof(*m));
	m->seq = spool_get_le(body, 8);
	if (buf[4] == 'P') {
		m->packet_id = (uint16_t)spool_get_le(body + 8, 2);
		m->pubrec = body[10] & 1;
		if (m->packet_id == 0 || (body[10] & ~1) != 0)
			return SPOOL_BAD;
	} else if (buf[4] == 'M') {
		m->qos = body[8];
		m->retain = body[9] & 1;
		m->topic_len = spool_get_le(body + 10, 2);
		if (m->qos > 2 || (body[9] & ~1) != 0 || m->topic_len == 0 ||
		    m->topic_len > blen - SPOOL_MSG_FIXED)
			return SPOOL_BAD;
		m->topic = (const char *)body + SPOOL_MSG_FIXED;
		m->payload = body + SPOOL_MSG_FIXED + m->topic_len;
		m->payload_len = blen - SPOOL_MSG_FIXED - m->topic_len;
	}
	*type = (char)buf[4];
	*consumed = SPOOL_HEAD + blen + 4;
	return SPOOL_OK;
}

size_t spool_resync(const uint8_t *buf, size_t len, size_t from)
{
	const uint8_t *hit;

	if (from >= len)
		return len;
	hit = memmem(buf + from, len - from, SPOOL_MAGIC, 4);
	return hit != NULL ? (size_t)(hit - buf) : len;
}

/* Index of the live entry with this seq, or sp_n. */
static size_t spool_find(const struct spool *sp, uint64_t seq)
{
	size_t lo = sp->sp_head, hi = sp->sp_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sp->sp_ent[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sp->sp_n && sp->sp_ent[lo].seq == seq ? lo : sp->sp_n;
}

static void spool_index(struct spool *sp, uint64_t seq, uint64_t off, uint32_t len)
{
	if (sp->sp_head > 0 && sp->sp_head >= sp->sp_n / 2) {
		memmove(sp->sp_ent, sp->sp_ent + sp->sp_head,
		        (sp->sp_n - sp->sp_head) * sizeof(*sp->sp_ent));
		sp->sp_n -= sp->sp_head;
		sp->sp_head = 0;
	}
	if (sp->sp_n == sp->sp_cap) {
		sp->sp_cap = sp->sp_cap ? sp->sp_cap * 2 : 64;
		sp->sp_ent = xrealloc(sp->sp_ent, sp->sp_cap * sizeof(*sp->sp_ent));
	}
	sp->sp_ent[sp->sp_n++] =
	        (struct spool_ent){.seq = seq, .off = off, .len = len, .live = true};
	sp->sp_live++;
	sp->sp_live_bytes += len;
}

/*
 * Write the pending records to a new file and put it in place. They come
 * from the in-memory image img of the old file (at start) or, with img
 * NULL, from the current file. out receives the new file's contents.
 */
static int spool_rewrite(struct spool *sp, const uint8_t *img, struct buf *out, char *err,
                         size_t errlen)
{
	char tmp[4096];
	uint64_t off = 0;
	size_t i, n = 0;
	int fd;
	/* The new index, put in place only once the new file is. */
	struct spool_ent *ent = xcalloc(sp->sp_cap > 0 ? sp->sp_cap : 1, sizeof(*ent));

	snprintf(tmp, sizeof(tmp), "%s/%s", sp->sp_dir, SPOOL_TMP);
	buf_reset(out);
	for (i = sp->sp_head; i < sp->sp_n; i++) {
		struct spool_ent *e = &sp->sp_ent[i];

		if (!e->live)
			continue;
		buf_reserve(out, e->len);
		if (img != NULL) {
			memcpy(buf_tail(out), img + e->off, e->len);
		} else if (pread(sp->sp_fd, buf_tail(out), e->len, (off_t)e->off) !=
		           (ssize_t)e->len) {
			snprintf(err, errlen, "%s: read: %s", sp->sp_path,
			         errno != 0 ? strerror(errno) : "short read");
			free(ent);
			return -1;
		}
		buf_produced(out, e->len);
		ent[n] = *e;
		ent[n++].off = off;
		if (e->id != 0) {
			struct spool_msg p = {
			        .seq = e->seq, .packet_id = e->id, .pubrec = e->pubrec};

			spool_encode(out, 'P', &p);
		}
		off = buf_len(out);
	}
	if (buf_replace_file(out, sp->sp_path, tmp) != 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(ent);
		return -1;
	}
	free(sp->sp_ent);
	sp->sp_ent = ent;
	sp->sp_head = 0;
	sp->sp_n = n;
	fd = open(sp->sp_path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (fd < 0) {
		/* The new file is in place; the old descriptor writes to the old one. */
		snprintf(err, errlen, "%s: %s", sp->sp_path, strerror(errno));
		return -1;
	}
	if (sp->sp_fd >= 0)
		close(sp->sp_fd);
	sp->sp_fd = fd;
	sp->sp_size = off;
	return 0;
}

/*
 * A 'P' record read at start: message m.seq went out with m.packet_id.
 * An id is unique among pending messages: when two claim one (a 'D'
 * lost in a power cut), the later claim is the broker's; the earlier
 * message goes out again under a new id. by_id (65536 entries, entry
 * index + 1, allocated at the first 'P') finds the earlier claim.
 */
static void spool_load_sent(struct spool *sp, const struct spool_msg *m, uint32_t **by_id)
{
	size_t i = spool_find(sp, m->seq), j;

	if (i == sp->sp_n || !sp->sp_ent[i].live)
		return;
	if (*by_id == NULL)
		*by_id = xcalloc(65536, sizeof(**by_id));
	j = (*by_id)[m->packet_id];
	if (j > 0 && j - 1 != i && sp->sp_ent[j - 1].id == m->packet_id)
		sp->sp_ent[j - 1].id = 0;
	if (sp->sp_ent[i].id != 0 && sp->sp_ent[i].id != m->packet_id)
		(*by_id)[sp->sp_ent[i].id] = 0;
	sp->sp_ent[i].id = m->packet_id;
	sp->sp_ent[i].pubrec = m->pubrec;
	(*by_id)[m->packet_id] = (uint32_t)(i + 1);
}

/* One intact record read at start, at offset off, used bytes long. */
static void spool_load_record(struct spool *sp, char type, const struct spool_msg *m, size_t off,
                              size_t used, uint32_t **by_id)
{
	size_t i;

	if (m->seq >= sp->sp_next_seq)
		sp->sp_next_seq = m->seq + 1;
	if (type == 'M') {
		/* Seqs grow through the file; an out-of-order one is damage. */
		if (sp->sp_n > 0 && m->seq <= sp->sp_ent[sp->sp_n - 1].seq)
			log_warnx("spool %s: record at offset %zu repeats message %llu, skipped",
			          sp->sp_path, off, (unsigned long long)m->seq);
		else
			spool_index(sp, m->seq, off, (uint32_t)used);
	} else if (type == 'P') {
		spool_load_sent(sp, m, by_id);
	} else if ((i = spool_find(sp, m->seq)) < sp->sp_n && sp->sp_ent[i].live) {
		sp->sp_ent[i].live = false;
		sp->sp_live--;
		sp->sp_live_bytes -= sp->sp_ent[i].len;
	}
}

/* Read the whole file at start: index pending messages, report damage. */
static int spool_load(struct spool *sp, struct buf *img, char *err, size_t errlen)
{
	const uint8_t *d;
	size_t off = 0, len, bad = 0;
	uint32_t *by_id = NULL;
	int fd = open(sp->sp_path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", sp->sp_path, strerror(errno));
		return -1;
	}
	if (buf_read_fd(img, fd) != 0) {
		snprintf(err, errlen, "%s: read: %s", sp->sp_path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	d = (const uint8_t *)buf_data(img);
	len = buf_len(img);
	while (off < len) {
		struct spool_msg m;
		size_t used, next;
		char type;
		enum spool_rc rc = spool_decode(d + off, len - off, &type, &m, &used);

		/* Cut short only at the end: with a record after it, its length
		 * field is what is damaged. */
		if (rc == SPOOL_NEED_MORE && spool_resync(d, len, off + 1) == len) {
			log_warnx("spool %s: record cut short at offset %zu (%zu bytes), skipped",
			          sp->sp_path, off, len - off);
			bad++;
			break;
		}
		if (rc != SPOOL_OK) {
			next = spool_resync(d, len, off + 1);
			log_warnx("spool %s: damaged record at offset %zu (%zu bytes), skipped",
			          sp->sp_path, off, next - off);
			bad++;
			off = next;
			continue;
		}
		spool_load_record(sp, type, &m, off, used, &by_id);
		off += used;
	}
	free(by_id);
	if (bad > 0)
		log_warnx("spool %s: %zu damaged record(s) skipped; the intact ones are kept",
		          sp->sp_path, bad);
	return 0;
}

struct spool *spool_open(const char *dir, spool_replay_fn *fn, void *ctx, char *err, size_t errlen)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	struct buf img = BUF_INITIALIZER;
	struct stat st;
	size_t i;

	sp->sp_fd = sp->sp_lockfd = -1;
	sp->sp_next_seq = 1;
	buf_init(&sp->sp_buf);
	sp->sp_dir = xstrdup(dir);
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "queue.spool %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "queue.spool %s: not a directory", dir);
		goto fail;
	}
	sp->sp_path = xmalloc(strlen(dir) + sizeof(SPOOL_FILE) + sizeof(".lock") + 1);
	/* The spool file is replaced by rename(), so the lock is on a file of
	 * its own, held through sp_lockfd for the whole run. */
	sprintf(sp->sp_path, "%s/%s.lock", dir, SPOOL_FILE);
	sp->sp_lockfd = open(sp->sp_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->sp_lockfd < 0) {
		snprintf(err, errlen, "queue.spool %s: %s", sp->sp_path, strerror(errno));
		goto fail;
	}
	if (flock(sp->sp_lockfd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen, "queue.spool %s: in use by another octomqttd", dir);
		goto fail;
	}
	sprintf(sp->sp_path, "%s/%s", dir, SPOOL_FILE);
	if (spool_load(sp, &img, err, errlen) != 0)
		goto fail;
	if (spool_rewrite(sp, (const uint8_t *)buf_data(&img), &sp->sp_buf, err, errlen) != 0)
		goto fail;
	/* The new file holds just the pending messages, in order. */
	for (i = 0; i < sp->sp_n; i++) {
		const struct spool_ent *e = &sp->sp_ent[i];
		struct spool_msg m;
		size_t used;
		char type;

		if (spool_decode((const uint8_t *)buf_data(&sp->sp_buf) + e->off, e->len, &type, &m,
		                 &used) != SPOOL_OK)
			break; /* cannot happen: these records were just checked */
		m.packet_id = e->id;
		m.pubrec = e->pubrec;
		fn(ctx, &m);
	}
	if (sp->sp_live > 0)
		log_info("spool %s: %zu message(s) from the last run", sp->sp_path, sp->sp_live);
	buf_reset(&sp->sp_buf);
	buf_shrink(&sp->sp_buf, 65536);
	buf_free(&img);
	return sp;
fail:
	buf_free(&img);
	spool_close(sp);
	return NULL;
}

/* Emptied when nothing is pending; rewritten when mostly done records. */
static void spool_maybe_compact(struct spool *sp)
{
	static struct log_limit lim;
	char err[ERR_LEN];

	if (sp->sp_live == 0) {
		if (sp->sp_size > 0 && ftruncate(sp->sp_fd, 0) == 0) {
			sp->sp_size = 0;
			sp->sp_head = sp->sp_n = 0;
		}
		return;
	}
	if (sp->sp_size < SPOOL_COMPACT_MIN || sp->sp_size < 4 * sp->sp_live_bytes)
		return;
	/* Rate-limited: a full disk fails every attempt; nothing is lost by it. */
	if (spool_rewrite(sp, NULL, &sp->sp_buf, err, sizeof(err)) != 0)
		log_warnx_limited(&lim, "spool: compaction failed, file keeps growing: %s", err);
	else
		sp->sp_unsynced = sp->sp_sync_failed = false; /* the new file was synced whole */
	buf_reset(&sp->sp_buf);
	buf_shrink(&sp->sp_buf, 65536);
}

int spool_append(struct spool *sp, struct spool_msg *m)
{
	static struct log_limit lim_store;
	uint64_t off = sp->sp_size;

	m->seq = sp->sp_next_seq;
	buf_reset(&sp->sp_buf);
	spool_encode(&sp->sp_buf, 'M', m);
	/* The fdatasync() is spool_sync()'s, once for all a loop pass wrote. */
	if (buf_write_fd(&sp->sp_buf, sp->sp_fd) != 0) {
		/*
		 * Rate-limited (a full disk fails every publish): the message
		 * is refused, not lost; the caller answers 503 spool_error and
		 * counts it in /status.
		 */
		log_warn_limited(&lim_store, "spool %s: cannot store a message, refused",
		                 sp->sp_path);
		/* Part of a record may be there; the CRC makes it skipped. */
		sp->sp_size = (uint64_t)lseek(sp->sp_fd, 0, SEEK_END);
		return -1;
	}
	sp->sp_next_seq++;
	sp->sp_unsynced = true;
	sp->sp_size += buf_len(&sp->sp_buf);
	spool_index(sp, m->seq, off, (uint32_t)buf_len(&sp->sp_buf));
	return 0;
}

void spool_sent(struct spool *sp, uint64_t seq, uint16_t id, bool pubrec)
{
	static struct log_limit lim_sent;
	size_t i = spool_find(sp, seq);
	struct spool_msg m = {.seq = seq, .packet_id = id, .pubrec = pubrec};

	if (i == sp->sp_n || !sp->sp_ent[i].live || id == 0)
		return;
	sp->sp_ent[i].id = id;
	sp->sp_ent[i].pubrec = pubrec;
	buf_reset(&sp->sp_buf);
	spool_encode(&sp->sp_buf, 'P', &m);
	/*
	 * No sync: the page cache outlives a crash of the daemon. Lost in a
	 * power cut, the message goes out again under a new id (DESIGN §7
	 * holds: it is delivered, at least once). Rate-limited like 'D'.
	 */
	if (buf_write_fd(&sp->sp_buf, sp->sp_fd) != 0)
		log_warn_limited(&lim_sent, "spool %s: cannot note the packet id of message %llu",
		                 sp->sp_path, (unsigned long long)seq);
	sp->sp_size += buf_len(&sp->sp_buf);
}

void spool_done(struct spool *sp, uint64_t seq)
{
	static struct log_limit lim_done;
	size_t i = spool_find(sp, seq);
	struct spool_msg m = {.seq = seq};

	if (i == sp->sp_n || !sp->sp_ent[i].live)
		return;
	sp->sp_ent[i].live = false;
	sp->sp_live--;
	sp->sp_live_bytes -= sp->sp_ent[i].len;
	while (sp->sp_head < sp->sp_n && !sp->sp_ent[sp->sp_head].live)
		sp->sp_head++;
	if (sp->sp_live == 0) {
		spool_maybe_compact(sp);
		return;
	}
	buf_reset(&sp->sp_buf);
	spool_encode(&sp->sp_buf, 'D', &m);
	/* No sync: a lost 'D' only means one duplicate after a crash. */
	/* Rate-limited: a lost 'D' costs at most a duplicate after a crash. */
	if (buf_write_fd(&sp->sp_buf, sp->sp_fd) != 0)
		log_warn_limited(&lim_done, "spool %s: cannot mark message %llu done", sp->sp_path,
		                 (unsigned long long)seq);
	sp->sp_size += buf_len(&sp->sp_buf);
	spool_maybe_compact(sp);
}

int spool_sync(struct spool *sp, char *err, size_t errlen)
{
	if (!sp->sp_unsynced)
		return 0;
	/*
	 * After a failed fdatasync the kernel may have dropped the pages it
	 * could not write and report success next time: rewrite the file.
	 */
	if (sp->sp_sync_failed) {
		if (spool_rewrite(sp, NULL, &sp->sp_buf, err, errlen) != 0)
			return -1;
		buf_reset(&sp->sp_buf);
	} else if (fdatasync(sp->sp_fd) != 0) {
		snprintf(err, errlen, "spool %s: fdatasync: %s", sp->sp_path, strerror(errno));
		sp->sp_sync_failed = true;
		return -1;
	}
	sp->sp_unsynced = sp->sp_sync_failed = false;
	sp->sp_syncs++;
	return 0;
}

uint64_t spool_syncs(const struct spool *sp)
{
	return sp->sp_syncs;
}

size_t spool_pending(const struct spool *sp)
{
	return sp->sp_live;
}

uint64_t spool_file_size(const struct spool *sp)
{
	return sp->sp_size;
}

void spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->sp_fd >= 0) {
		if (sp->sp_unsynced)
			(void)fdatasync(sp->sp_fd); /* best effort at a stop */
		close(sp->sp_fd);
	}
	if (sp->sp_lockfd >= 0)
		close(sp->sp_lockfd);
	free(sp->sp_ent);
	free(sp->sp_dir);
	free(sp->sp_path);
	buf_free(&sp->sp_buf);
	free(sp);
}
