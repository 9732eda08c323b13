/*
 * stub_mqtt_client: the functions of src/mqtt_client.h as a recorder (see
 * stub_mqtt_client.h). Linked instead of mqtt_client.c by tests that only
 * need to see what would have been published.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "stub_mqtt_client.h"

struct mqtt_client {
	bool sm_stopped;
};

struct stub_mqtt stub_mqtt = {.connected = true, .next_result = MQTT_PUB_SENT};

void stub_mqtt_reset(void)
{
	free(stub_mqtt.topic);
	free(stub_mqtt.payload);
	memset(&stub_mqtt, 0, sizeof(stub_mqtt));
	stub_mqtt.connected = true;
	stub_mqtt.next_result = MQTT_PUB_SENT;
}

struct mqtt_client *mqtt_client_new(struct loop *loop, const struct mqtt_client_opts *opts)
{
	(void)loop;
	(void)opts;
	return xcalloc(1, sizeof(struct mqtt_client));
}

void mqtt_client_start(struct mqtt_client *mc)
{
	(void)mc;
}

static char *stub_copy(const void *p, size_t len)
{
	char *s = xmalloc(len + 1);

	if (len > 0)
		memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

enum mqtt_pub_result mqtt_client_publish(struct mqtt_client *mc, const char *topic,
                                         size_t topic_len, const void *payload, size_t payload_len,
                                         int qos, bool retain, bool allow_queue)
{
	(void)mc;
	free(stub_mqtt.topic);
	free(stub_mqtt.payload);
	stub_mqtt.calls++;
	stub_mqtt.topic = stub_copy(topic, topic_len);
	stub_mqtt.topic_len = topic_len;
	stub_mqtt.payload = stub_copy(payload, payload_len);
	stub_mqtt.payload_len = payload_len;
	stub_mqtt.qos = qos;
	stub_mqtt.retain = retain;
	stub_mqtt.allow_queue = allow_queue;
	return stub_mqtt.next_result;
}

/* Records like mqtt_client_publish(); takes the buffer on success, as the real one does. */
enum mqtt_pub_result mqtt_client_publish_buf(struct mqtt_client *mc, const char *topic,
                                             size_t topic_len, struct buf *payload, int qos,
                                             bool retain, bool allow_queue)
{
	enum mqtt_pub_result res = mqtt_client_publish(mc, topic, topic_len, buf_data(payload),
	                                               buf_len(payload), qos, retain, allow_queue);

	if (res == MQTT_PUB_SENT || res == MQTT_PUB_QUEUED)
		buf_free(payload);
	return res;
}

bool mqtt_client_connected(const struct mqtt_client *mc)
{
	(void)mc;
	return stub_mqtt.connected;
}

void mqtt_client_stats(const struct mqtt_client *mc, struct mqtt_client_stats *st)
{
	(void)mc;
	memset(st, 0, sizeof(*st));
	st->connected = stub_mqtt.connected;
	st->published = stub_mqtt.calls;
	/* Distinct values, so that /status and /metrics show each one's place. */
	st->pings_sent = 7;
	st->pings_unanswered = 1;
	st->poison_dropped = 2;
	st->acks_held = 3;
}

static void stub_sub_log(char sign, const char *filter, size_t len)
{
	size_t n = strlen(stub_mqtt.subs);

	snprintf(stub_mqtt.subs + n, sizeof(stub_mqtt.subs) - n, "%c%.*s;", sign, (int)len, filter);
}

int mqtt_client_subscribe(struct mqtt_client *mc, const char *filter, size_t len, int qos)
{
	(void)mc;
	(void)qos;
	stub_sub_log('+', filter, len);
	return 0;
}

int mqtt_client_unsubscribe(struct mqtt_client *mc, const char *filter, size_t len)
{
	(void)mc;
	stub_sub_log('-', filter, len);
	return 0;
}

void mqtt_client_ack(struct mqtt_client *mc, uint64_t token)
{
	(void)mc;
	if (stub_mqtt.nacks < sizeof(stub_mqtt.acks) / sizeof(stub_mqtt.acks[0]))
		stub_mqtt.acks[stub_mqtt.nacks++] = token;
}

void mqtt_client_stop(struct mqtt_client *mc)
{
	mc->sm_stopped = true;
}

bool mqtt_client_stopped(const struct mqtt_client *mc)
{
	return mc->sm_stopped;
}

void mqtt_client_free(struct mqtt_client *mc)
{
	free(mc);
}

void mqtt_client_set_host_up(struct mqtt_client *mc, bool up)
{
	(void)mc;
	stub_mqtt.host_down = !up;
	stub_mqtt.host_calls++;
}
