/*
 * mqtt_session: the QoS flows of mqtt_client over an accepted connection
 * (see mqtt_session.h): publishing, acknowledgements both ways, status
 * messages, subscriptions. The connection itself, and every change of
 * state, is mqtt_client.c's.
 */
#include "config.h"

#include <string.h>

#include "buf.h"
#include "log.h"
#include "mqtt_client.h"
#include "mqtt_codec.h"
#include "mqtt_inbound.h"
#include "mqtt_queue.h"
#include "mqtt_session.h"
#include "mqtt_subset.h"

void mc_session_connect(struct mqtt_client *mc)
{
	const struct mqtt_client_opts *o = &mc->mc_opts;
	struct mqtt_connect c;

	memset(&c, 0, sizeof(c));
	c.protocol = o->protocol;
	c.client_id = o->client_id;
	c.clean_session = o->clean_session;
	c.keepalive = (uint16_t)o->keepalive;
	c.username = o->username;
	c.password = o->username != NULL ? o->password : NULL;
	/* The broker publishes the will when the link dies without DISCONNECT. */
	if (mc->mc_lw_topic != NULL) {
		c.will_topic = mc->mc_lw_topic;
		c.will_payload = "disconnected";
		c.will_payload_len = strlen("disconnected");
		c.will_qos = 1;
		c.will_retain = o->lw_retain;
	}
	mqtt_encode_connect(&mc->mc_out, &c);
	mc_want_write(mc);
}

/* Encode one message onto the connection. */
static void mc_send(struct mqtt_client *mc, struct mq_msg *m, bool dup)
{
	if (m->m_qos > 0 && m->m_pubrec) {
		mqtt_encode_ack(&mc->mc_out, MQTT_PUBREL, m->m_id);
	} else {
		mqtt_encode_publish(&mc->mc_out, mq_msg_topic(m), m->m_topic_len, mq_msg_payload(m),
		                    m->m_payload_len, m->m_qos, m->m_retain, dup, m->m_id);
	}
	if (m->m_qos > 0 && !m->m_counted) {
		m->m_counted = true;
		mc->mc_q.q_published++;
	}
	if (m->m_qos == 0) {
		m->m_end = mc->mc_q.q_written + buf_len(&mc->mc_out);
		mq_push(&mc->mc_q.q_unwritten, m);
	}
	mc_want_write(mc);
}

void mc_drain_queue(struct mqtt_client *mc)
{
	struct mq_msg *m;

	while (mc_linked(mc) && buf_len(&mc->mc_out) < MC_OUT_HIGH &&
	       (m = mq_next(&mc->mc_q)) != NULL)
		mc_send(mc, m, false);
	mc_congestion(mc);
}

/*
 * A status message (`connected`, `disconnected`) on the will topic: QoS 1,
 * retained per broker.lwRetain. It must not wait behind the offline queue,
 * but it counts in the broker's in-flight quota like any QoS 1 message (a
 * broker over its quota acknowledges and discards): with the window full
 * it waits at the head of the queue for the first acknowledgement. Not a
 * user message: never counted in the stats.
 */
void mc_send_status(struct mqtt_client *mc, const char *text)
{
	struct mq_msg *m = mq_msg_new(mc->mc_lw_topic, strlen(mc->mc_lw_topic), text, strlen(text),
	                              1, mc->mc_opts.lw_retain, false);

	m->m_status = true;
	m->m_counted = true;
	log_debug("broker %s: publishing '%s' on %s", mc->mc_addr, text, mc->mc_lw_topic);
	if (mq_window_open(&mc->mc_q)) {
		mq_inflight_add(&mc->mc_q, m);
		mc_send(mc, m, false);
		return;
	}
	mq_enqueue_front(&mc->mc_q, m);
}

void mc_session_start(struct mqtt_client *mc, bool session_present)
{
	struct mq_msg *m;

	/* A new session: inbound QoS 2 ids awaiting PUBREL belong to the old
	 * one; the broker may reuse them for new messages. */
	if (!session_present)
		mqtt_inbound_qos2_forget(mc->mc_inbound);
	/* QoS 1/2 messages of the last connection go first, in their order
	 * (§4.4): with DUP if the broker kept the session, else as new. */
	for (m = mc->mc_q.q_inflight.l_head; m != NULL; m = m->m_next) {
		if (!session_present)
			mq_set_pubrec(&mc->mc_q, m, false);
		mc_send(mc, m, session_present);
	}
	/* Then `connected`, before the offline queue. */
	if (mc->mc_lw_topic != NULL)
		mc_send_status(mc, mc->mc_host_down ? "disconnected" : "connected");
	mqtt_subset_connected(mc->mc_subset, session_present);
	if (mc->mc_q.q_queue.l_count > 0)
		log_info("broker %s: sending %zu queued message(s)", mc->mc_addr,
		         mc->mc_q.q_queue.l_count);
	mc_drain_queue(mc);
}

/* Can a message of that size be accepted now? MQTT_PUB_SENT if so. */
static enum mqtt_pub_result mc_publish_check(struct mqtt_client *mc, size_t topic_len,
                                             size_t payload_len, int qos, bool allow_queue)
{
	bool connected = mc->mc_state == MC_CONNECTED;
	enum mqtt_pub_result res = MQTT_PUB_SENT;

	if (mqtt_publish_size(topic_len, payload_len, qos) > mc->mc_opts.max_packet)
		res = MQTT_PUB_TOO_LARGE;
	else if (mc_stopping(mc) || (!connected && !allow_queue))
		res = MQTT_PUB_NOT_CONNECTED;
	/* Bounds: the queue by count and bytes. A connected but slow broker
	 * fills it too: past MC_OUT_HIGH, messages wait there. */
	else if (mq_full(&mc->mc_q, topic_len, payload_len))
		res = MQTT_PUB_QUEUE_FULL;
	if (res != MQTT_PUB_SENT)
		mc->mc_st.refused++;
	return res;
}

/* The accepted message m: spooled, then sent now or queued. */
static enum mqtt_pub_result mc_publish_msg(struct mqtt_client *mc, struct mq_msg *m)
{
	bool connected = mc->mc_state == MC_CONNECTED;

	/* Durable before the caller answers "accepted". */
	if (mq_spool_add(&mc->mc_q, m) != 0) {
		mq_msg_free(m);
		mc->mc_st.refused++;
		return MQTT_PUB_SPOOL_FAILED;
	}
	if (connected && mc->mc_q.q_queue.l_count == 0 && buf_len(&mc->mc_out) < MC_OUT_HIGH &&
	    (m->m_qos == 0 || mq_window_open(&mc->mc_q))) {
		if (m->m_qos > 0)
			mq_inflight_add(&mc->mc_q, m);
		mc_send(mc, m, false);
		return MQTT_PUB_SENT;
	}
	mq_enqueue(&mc->mc_q, m);
	if (connected) {
		mc_congestion(mc);
		return MQTT_PUB_SENT; /* waits only for window or buffer room */
	}
	mc->mc_q.q_queued++;
	return MQTT_PUB_QUEUED;
}

enum mqtt_pub_result mqtt_client_publish(struct mqtt_client *mc, const char *topic,
                                         size_t topic_len, const void *payload, size_t payload_len,
                                         int qos, bool retain, bool allow_queue)
{
	enum mqtt_pub_result res = mc_publish_check(mc, topic_len, payload_len, qos, allow_queue);

	if (res != MQTT_PUB_SENT)
		return res;
	return mc_publish_msg(
	        mc, mq_msg_new(topic, topic_len, payload, payload_len, qos, retain, allow_queue));
}

enum mqtt_pub_result mqtt_client_publish_buf(struct mqtt_client *mc, const char *topic,
                                             size_t topic_len, struct buf *payload, int qos,
                                             bool retain, bool allow_queue)
{
	size_t len = buf_len(payload);
	enum mqtt_pub_result res;
	char *p;

	if (len == 0)
		return mqtt_client_publish(mc, topic, topic_len, NULL, 0, qos, retain, allow_queue);
	res = mc_publish_check(mc, topic_len, len, qos, allow_queue);
	if (res != MQTT_PUB_SENT)
		return res;
	/* The bytes at the start of the allocation, which shrinks to them (in place). */
	buf_compact(payload);
	p = xrealloc(payload->b_data, len);
	buf_init(payload);
	return mc_publish_msg(mc,
	                      mq_msg_new_owned(topic, topic_len, p, len, qos, retain, allow_queue));
}

void mqtt_client_stats(const struct mqtt_client *mc, struct mqtt_client_stats *st)
{
	*st = mc->mc_st;
	st->connected = mc->mc_state == MC_CONNECTED;
	st->published = mc->mc_q.q_published;
	st->queued = mc->mc_q.q_queued;
	st->dropped = mc->mc_q.q_dropped;
	st->poison_dropped = mc->mc_q.q_poison_dropped;
	st->queue_messages = mc->mc_q.q_queue.l_count;
	st->queue_bytes = mc->mc_q.q_queue_bytes;
	st->inflight = mq_inflight_user(&mc->mc_q);
	st->acks_held = mqtt_inbound_count(mc->mc_inbound);
	st->spool_syncs = mq_spool_syncs(&mc->mc_q);
}

int mqtt_client_spool(struct mqtt_client *mc, const char *dir, char *err, size_t errlen)
{
	return mq_spool_open(&mc->mc_q, dir, err, errlen);
}

int mqtt_client_sync(struct mqtt_client *mc, char *err, size_t errlen)
{
	return mq_spool_sync(&mc->mc_q, err, errlen);
}

/* PUBACK, PUBREC or PUBCOMP of an outbound message. */
static void mc_ack(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	struct mq_msg **link, *m = mq_inflight_find(&mc->mc_q, pkt->packet_id, &link);

	if (m == NULL) {
		log_debug("broker %s: %s for unknown packet id %u ignored", mc->mc_addr,
		          mqtt_type_name(pkt->type), pkt->packet_id);
		return;
	}
	if (pkt->type == MQTT_PUBACK && m->m_qos == 1) {
		mq_inflight_remove(&mc->mc_q, link, m);
	} else if (pkt->type == MQTT_PUBREC && m->m_qos == 2) {
		mq_set_pubrec(&mc->mc_q, m, true);
		mqtt_encode_ack(&mc->mc_out, MQTT_PUBREL, m->m_id);
		mc_want_write(mc);
	} else if (pkt->type == MQTT_PUBCOMP && m->m_qos == 2 && m->m_pubrec) {
		mq_inflight_remove(&mc->mc_q, link, m);
	} else {
		log_debug("broker %s: unexpected %s for packet id %u ignored", mc->mc_addr,
		          mqtt_type_name(pkt->type), pkt->packet_id);
		return;
	}
	mc_drain_queue(mc);
	mc_progress(mc);
}

/* Send the held acknowledgements at the head whose deliveries are queued. */
static void mc_acks_flush(struct mqtt_client *mc)
{
	enum mqtt_type type;
	uint16_t id;

	while (mqtt_inbound_next(mc->mc_inbound, &type, &id))
		mqtt_encode_ack(&mc->mc_out, type, id);
	mc_want_write(mc);
}

void mqtt_client_ack(struct mqtt_client *mc, uint64_t token)
{
	if (mc->mc_fd < 0 || !mqtt_inbound_ready(mc->mc_inbound, token))
		return;
	mc_acks_flush(mc);
}

/*
 * A PUBLISH from the broker. It goes to the delivery hook; its PUBACK
 * (QoS 1) or PUBREC (QoS 2) waits until the hook's side calls
 * mqtt_client_ack(), and acknowledgements leave in the order the PUBLISH
 * packets came (§4.6), whatever order the deliveries are queued in.
 *
 * QoS 2 (§4.3.3): the packet id is remembered from the first PUBLISH
 * until its PUBREL. A PUBLISH with an id still remembered is the same
 * message again (the broker did not see our PUBREC): not delivered a
 * second time; answered with PUBREC once more unless that PUBREC is still
 * waiting for the first delivery.
 */
static void mc_inbound_publish(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	struct mqtt_message msg;
	uint64_t token = 0;

	if (pkt->qos == 2 && mqtt_inbound_qos2_seen(mc->mc_inbound, pkt->packet_id, false)) {
		log_debug("broker %s: duplicate QoS 2 message id %u on '%.*s' not delivered again",
		          mc->mc_addr, pkt->packet_id, (int)pkt->topic_len, pkt->topic);
		if (!mqtt_inbound_held(mc->mc_inbound, MQTT_PUBREC, pkt->packet_id)) {
			mqtt_encode_ack(&mc->mc_out, MQTT_PUBREC, pkt->packet_id);
			mc_want_write(mc);
		}
		return;
	}
	if (pkt->qos == 2)
		mqtt_inbound_qos2_remember(mc->mc_inbound, pkt->packet_id);
	if (pkt->qos > 0)
		token = mqtt_inbound_hold(mc->mc_inbound, pkt->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC,
		                          pkt->packet_id);
	if (mc->mc_on_message == NULL) {
		log_debug("broker %s: message on '%.*s' (%zu bytes, QoS %d) ignored: no "
		          "subscriptions",
		          mc->mc_addr, (int)pkt->topic_len, pkt->topic, pkt->payload_len, pkt->qos);
		if (token != 0)
			mqtt_client_ack(mc, token);
		return;
	}
	log_debug("broker %s: message on '%.*s' (%zu bytes, QoS %d)", mc->mc_addr,
	          (int)pkt->topic_len, pkt->topic, pkt->payload_len, pkt->qos);
	msg.topic = pkt->topic;
	msg.topic_len = pkt->topic_len;
	msg.payload = pkt->payload;
	msg.payload_len = pkt->payload_len;
	msg.qos = pkt->qos;
	msg.retain = pkt->retain;
	msg.dup = pkt->dup;
	mc->mc_on_message(mc->mc_on_message_ctx, &msg, token);
}

void mc_session_packet(struct mqtt_client *mc, const struct mqtt_packet *pkt)
{
	switch (pkt->type) {
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP:
		mc_ack(mc, pkt);
		break;
	case MQTT_PUBLISH:
		mc_inbound_publish(mc, pkt);
		break;
	case MQTT_PUBREL:
		mqtt_inbound_qos2_seen(mc->mc_inbound, pkt->packet_id, true);
		mqtt_encode_ack(&mc->mc_out, MQTT_PUBCOMP, pkt->packet_id);
		mc_want_write(mc);
		break;
	case MQTT_SUBACK:
	case MQTT_UNSUBACK:
		mqtt_subset_acked(mc->mc_subset, pkt->type == MQTT_UNSUBACK, pkt->packet_id,
		                  pkt->body, pkt->body_len);
		break;
	case MQTT_PINGRESP:
		mc->mc_ping_sent = 0;
		break;
	default:
		mc_lost(mc, " sent an unexpected %s, connection dropped",
		        mqtt_type_name(pkt->type));
		break;
	}
}

void mqtt_client_on_message(struct mqtt_client *mc, mqtt_message_fn *fn, void *ctx)
{
	mc->mc_on_message = fn;
	mc->mc_on_message_ctx = ctx;
}

void mqtt_client_on_suback(struct mqtt_client *mc, mqtt_suback_fn *fn, void *ctx)
{
	mqtt_subset_on_ack(mc->mc_subset, fn, ctx);
}

uint16_t mc_sub_send(void *ctx, bool subscribe, const char *filter, size_t len, int qos)
{
	struct mqtt_client *mc = ctx;
	uint16_t id = mq_new_id(&mc->mc_q);

	if (subscribe)
		mqtt_encode_subscribe(&mc->mc_out, id, filter, len, qos);
	else
		mqtt_encode_unsubscribe(&mc->mc_out, id, filter, len);
	mc_want_write(mc);
	return id;
}

bool mc_sub_id_busy(void *ctx, uint16_t id)
{
	struct mqtt_client *mc = ctx;

	return mqtt_subset_uses_id(mc->mc_subset, id);
}

int mqtt_client_subscribe(struct mqtt_client *mc, const char *filter, size_t len, int qos)
{
	mqtt_subset_subscribe(mc->mc_subset, filter, len, qos, mc->mc_state == MC_CONNECTED);
	return 0;
}

int mqtt_client_unsubscribe(struct mqtt_client *mc, const char *filter, size_t len)
{
	return mqtt_subset_unsubscribe(mc->mc_subset, filter, len, mc->mc_state == MC_CONNECTED);
}

/*
 * The host's presence (publish.lwHostTimeout, the presence module): while
 * the host is down the status topic says `disconnected`, also after each
 * reconnect. A change is published at once when connected; otherwise the
 * next CONNACK publishes the state in force. Stopping ignores it: the
 * stop publishes `disconnected` anyway.
 */
void mqtt_client_set_host_up(struct mqtt_client *mc, bool up)
{
	if (mc->mc_host_down == !up)
		return;
	mc->mc_host_down = !up;
	if (mc->mc_state == MC_CONNECTED && mc->mc_lw_topic != NULL)
		mc_send_status(mc, up ? "connected" : "disconnected");
}
