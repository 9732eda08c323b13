/*
 * subs: the subscription side of DESIGN §6 and §7, between the registry,
 * the MQTT client and the webhook deliveries.
 *
 * - The broker's subscriptions follow the registry: subs_sync() computes
 *   the broker set (topic_broker_set: no topic matches two of its
 *   filters, so a message arrives once however the registrations overlap)
 *   and subscribes or unsubscribes only what changed.
 * - Each inbound message (subs_on_message, the client's delivery hook) is
 *   matched against every registered filter; each match gets one delivery
 *   (the webhook body of §6) handed to the deliver function, which queues
 *   it; then the client may acknowledge the message (§7).
 */
#ifndef OCTO_SUBS_H
#define OCTO_SUBS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct registry;
struct reg_entry;
struct mqtt_client;
struct mqtt_message;
struct subs;

/*
 * Where deliveries go (the webhook client, or a test's recorder).
 * add_target/remove_target follow the registry (subs_sync); deliver
 * queues one body for one subscription: 0, or -1 when it cannot (no
 * target for it: counted and logged).
 */
struct subs_ops {
	int (*add_target)(void *ctx, const struct reg_entry *e);
	void (*remove_target)(void *ctx, const char *id);
	int (*deliver)(void *ctx, const struct reg_entry *e, const char *body, size_t len);
	void *ctx;
};

struct subs *subs_new(struct registry *reg, struct mqtt_client *mc, int qos,
                      const struct subs_ops *ops);
/* After every change of the registry (and once at start). */
void subs_sync(struct subs *s);
/* An mqtt_message_fn: ctx is the struct subs. */
void subs_on_message(void *ctx, const struct mqtt_message *msg, uint64_t token);
/* Filters subscribed at the broker now. */
size_t subs_broker_count(const struct subs *s);
/* Messages received, deliveries queued, deliveries with no target. */
void subs_stats(const struct subs *s, uint64_t *messages, uint64_t *deliveries,
                uint64_t *undeliverable);
void subs_free(struct subs *s);

#endif
