/*
 * mqtt_subset: the broker subscription set of mqtt_client: the filters to
 * hold at the broker, what is awaiting SUBACK or UNSUBACK, what the broker
 * granted in the current session. No I/O: a SUBSCRIBE or UNSUBSCRIBE goes
 * out through the send hook mqtt_client gives (which picks the packet id
 * and encodes the packet on the connection).
 */
#ifndef OCTO_MQTT_SUBSET_H
#define OCTO_MQTT_SUBSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mqtt_subset;

/* Send SUBSCRIBE (subscribe) or UNSUBSCRIBE of filter; returns the packet id used. */
typedef uint16_t mqtt_subset_send_fn(void *ctx, bool subscribe, const char *filter, size_t len,
                                     int qos);
/* A SUBACK: granted QoS 0..2, or -1 when refused (as mqtt_suback_fn). */
typedef void mqtt_subset_ack_fn(void *ctx, const char *filter, size_t len, int granted);

/* addr (the broker's "host:port", for log lines) must outlive the set. */
struct mqtt_subset *mqtt_subset_new(const char *addr, mqtt_subset_send_fn *send, void *ctx);
void mqtt_subset_free(struct mqtt_subset *s);
void mqtt_subset_on_ack(struct mqtt_subset *s, mqtt_subset_ack_fn *fn, void *ctx);
/*
 * Hold filter at QoS qos (sent at once when connected). Unsubscribe: -1
 * for a filter not in the set; otherwise sent when connected, else sent on
 * a resumed session or forgotten with the session.
 */
void mqtt_subset_subscribe(struct mqtt_subset *s, const char *filter, size_t len, int qos,
                           bool connected);
int mqtt_subset_unsubscribe(struct mqtt_subset *s, const char *filter, size_t len, bool connected);
/*
 * After CONNACK: without a session, the broker knows none of our filters:
 * subscribe them all, and forget pending unsubscriptions. With one, send
 * only what it has not acknowledged yet.
 */
void mqtt_subset_connected(struct mqtt_subset *s, bool session_present);
/* A SUBACK (unsuback false; body its payload) or UNSUBACK for packet id. */
void mqtt_subset_acked(struct mqtt_subset *s, bool unsuback, uint16_t id, const uint8_t *body,
                       size_t body_len);
/* Is packet id awaiting its SUBACK or UNSUBACK? */
bool mqtt_subset_uses_id(const struct mqtt_subset *s, uint16_t id);

#endif
