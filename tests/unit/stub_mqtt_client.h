/*
 * stub_mqtt_client: a recording stand-in for src/mqtt_client.c, for unit
 * tests of modules that publish (api). mqtt_client_publish() copies what
 * it was given into stub_mqtt and returns stub_mqtt.next_result; nothing
 * touches the network or the loop.
 */
#ifndef OCTO_STUB_MQTT_CLIENT_H
#define OCTO_STUB_MQTT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "mqtt_client.h"

struct stub_mqtt {
	unsigned calls; /* mqtt_client_publish() calls since the reset */
	char *topic;    /* last topic, NUL-terminated copy */
	size_t topic_len;
	char *payload; /* last payload, NUL-terminated copy */
	size_t payload_len;
	int qos;
	bool retain;
	bool allow_queue;
	bool connected;    /* what mqtt_client_connected() says */
	char subs[512];    /* "+filter;" per subscribe, "-filter;" per unsubscribe */
	uint64_t acks[16]; /* tokens given to mqtt_client_ack(), in order */
	unsigned nacks;
	enum mqtt_pub_result next_result; /* what mqtt_client_publish() returns */

	bool host_down;      /* the last mqtt_client_set_host_up() said false */
	unsigned host_calls; /* mqtt_client_set_host_up() calls */
};

extern struct stub_mqtt stub_mqtt;

/* Forget everything recorded; next_result MQTT_PUB_SENT, connected true. */
void stub_mqtt_reset(void);

#endif
