/*
 * mqtt_inbound: the inbound QoS 1/2 bookkeeping of mqtt_client. The
 * PUBACK/PUBREC of each inbound message is held until its delivery is
 * queued (mqtt_client_ack), and they leave in the order the messages
 * came (§4.6); the QoS 2 packet ids are remembered from PUBLISH to
 * PUBREL. Pure: mqtt_client encodes what this says to send.
 */
#ifndef OCTO_MQTT_INBOUND_H
#define OCTO_MQTT_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mqtt_codec.h" /* enum mqtt_type */

struct mqtt_inbound;

struct mqtt_inbound *mqtt_inbound_new(void);
void mqtt_inbound_free(struct mqtt_inbound *in);

/*
 * Hold an acknowledgement (MQTT_PUBACK or MQTT_PUBREC) of packet id;
 * returns its token (non-zero, growing).
 */
uint64_t mqtt_inbound_hold(struct mqtt_inbound *in, enum mqtt_type type, uint16_t id);
/* Is an acknowledgement of this type and id held? */
bool mqtt_inbound_held(const struct mqtt_inbound *in, enum mqtt_type type, uint16_t id);
/* The delivery of token is queued: true, or false for a token not held. */
bool mqtt_inbound_ready(struct mqtt_inbound *in, uint64_t token);
/*
 * The next acknowledgement to send: the oldest held one if its delivery
 * is queued (taken out; true), else false.
 */
bool mqtt_inbound_next(struct mqtt_inbound *in, enum mqtt_type *type, uint16_t *id);
/* The connection ended: every held acknowledgement is forgotten (the broker resends). */
void mqtt_inbound_clear(struct mqtt_inbound *in);
/* Acknowledgements held now. */
size_t mqtt_inbound_count(const struct mqtt_inbound *in);

/* Is inbound QoS 2 id `id` awaiting its PUBREL? `remove`: not any more. */
bool mqtt_inbound_qos2_seen(struct mqtt_inbound *in, uint16_t id, bool remove);
/* A QoS 2 PUBLISH with this id came: remembered until its PUBREL. */
void mqtt_inbound_qos2_remember(struct mqtt_inbound *in, uint16_t id);
/* A new session: the QoS 2 ids of the old one are forgotten. */
void mqtt_inbound_qos2_forget(struct mqtt_inbound *in);

#endif
