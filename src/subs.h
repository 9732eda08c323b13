/*
 * subs: the subscription side of DESIGN §6 and §7, between the registry,
 * the MQTT client and the webhook deliveries.
 *
 * - The broker's subscriptions follow the registry, one change at a time
 *   (its hook, registry_set_hook): the broker set (bset: no topic matches
 *   two of its filters, so a message arrives once however the
 *   registrations overlap) is kept up to date as each subscription comes
 *   and goes, and subs_sync() subscribes or unsubscribes what changed.
 *   Delivery targets are added and removed with each subscription.
 * - Each inbound message (subs_on_message, the client's delivery hook) is
 *   matched through a trie of the registered filters (its cost does not
 *   grow with the number of subscriptions that do not match); each match
 *   gets one delivery (the webhook body of §6), in registration order,
 *   handed to the deliver function, which queues it.
 * - A QoS 1/2 message (non-zero token) is held until every one of its
 *   deliveries has ended, whatever the outcome (subs_on_done: answered
 *   2xx, failed for good, dropped over max_pending, cancelled with its
 *   subscription); then mqtt_client_ack(token) lets the PUBACK/PUBREC go
 *   (§7; the client keeps the acknowledgements in arrival order). A
 *   delivery that did not end in "delivered" is logged with the message's
 *   topic and its subscription. A message that matches nothing, or none
 *   of whose deliveries could be queued, is acknowledged at once. Each
 *   held message takes one slot, found from a delivery's cookie in O(1);
 *   QoS 0 messages (token 0) are not tracked.
 * - subs_free() forgets held messages without acknowledging them: the
 *   connection is going away, and the broker sends them again to a kept
 *   session (at least once end to end, duplicates possible).
 */
#ifndef OCTO_SUBS_H
#define OCTO_SUBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "webhook.h"

struct registry;
struct reg_entry;
struct mqtt_client;
struct mqtt_message;
struct subs;

/*
 * Where deliveries go (the webhook client, or a test's recorder).
 * add_target/remove_target follow the registry (called as each
 * subscription is added or removed, and for each one there is when
 * subs_new is called); deliver
 * queues one body for one subscription: 0, or -1 when it cannot (no
 * target for it: counted and logged). A delivery deliver accepted must
 * end in exactly one subs_on_done(cookie) call later (or during the
 * deliver call itself); cookie 0 needs none.
 */
struct subs_ops {
	int (*add_target)(void *ctx, const struct reg_entry *e);
	void (*remove_target)(void *ctx, const char *id);
	int (*deliver)(void *ctx, const struct reg_entry *e, const char *body, size_t len,
	               uint64_t cookie);
	void *ctx;
};

/*
 * The delivery body of DESIGN §6 (pure), appended to out:
 * {"topic":...,"payload":"<text>"|null[,"payload_base64":"..."],
 *  "retained":bool,"qos":n,"args":<args>,"kwargs":<kwargs>}
 * payload is a JSON string when the bytes are valid UTF-8, else null with
 * payload_base64. args/kwargs are JSON text copied verbatim (NULL: [] and
 * {}); the caller vouches that they are valid JSON (the registry stores
 * them validated). subs_on_message() builds each delivery with it; public
 * for the tests, which check the body byte for byte.
 */
void subs_body(struct buf *out, const char *topic, size_t topic_len, const void *payload,
               size_t payload_len, bool retained, int qos, const char *args, const char *kwargs);

/* Takes the registry's hook (registry_set_hook) until subs_free. */
struct subs *subs_new(struct registry *reg, struct mqtt_client *mc, int qos,
                      const struct subs_ops *ops);
/* Subscribe and unsubscribe at the broker what the registry's changes
 * since the last call (or subs_new) need. */
void subs_sync(struct subs *s);
/* An mqtt_message_fn: ctx is the struct subs. */
void subs_on_message(void *ctx, const struct mqtt_message *msg, uint64_t token);
/*
 * A webhook_done_fn (webhook_on_done): ctx is the struct subs; the
 * delivery with this cookie, for subscription id, has ended. The last
 * delivery of a held message to end acknowledges it. A cookie that names
 * no held message (0, or one already done) is ignored.
 */
void subs_on_done(void *ctx, uint64_t cookie, const char *id, enum webhook_outcome outcome);
/* Gauge: QoS 1/2 messages whose acknowledgement waits for their deliveries. */
size_t subs_held(const struct subs *s);
/* Filters subscribed at the broker now. */
/* Public for the tests: the tests check the broker subscription set. */
size_t subs_broker_count(const struct subs *s);
/* Messages received, deliveries queued, deliveries with no target. */
void subs_stats(const struct subs *s, uint64_t *messages, uint64_t *deliveries,
                uint64_t *undeliverable);
void subs_free(struct subs *s);

#endif
