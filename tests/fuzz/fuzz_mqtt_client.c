/*
 * fuzz_mqtt_client: libFuzzer harness for the client's packet handling:
 * whole broker-side streams fed to a client over a socketpair.
 *
 * Input: one control byte, then records. The control byte picks the
 * session (clean or not), MQTT 3.1 or 3.1.1, the will, and how inbound
 * messages are acknowledged (no hook, at once, or held and acked in
 * reverse). A record is a length byte L and L bytes of stream; L = 0
 * means an action byte instead: publish (QoS from the byte), subscribe,
 * unsubscribe, ack the held messages, stop. When the client drops the
 * connection (a bad packet), the next record is fed to a new one, as
 * after a reconnect. Nothing must crash or leak (ASan), the statistics
 * must stay consistent, and freeing must release everything.
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "fuzz.h"
#include "log.h"
#include "loop.h"
#include "mqtt_client.h"

#define FUZZ_HELD 64

static uint64_t held[FUZZ_HELD];
static size_t nheld;
static int hook_mode;
static struct mqtt_client *fuzz_mc;

static void fuzz_hook(void *ctx, const struct mqtt_message *msg, uint64_t token)
{
	(void)ctx;
	FUZZ_ASSERT(msg->topic != NULL || msg->topic_len == 0);
	FUZZ_ASSERT(msg->qos >= 0 && msg->qos <= 2);
	FUZZ_ASSERT((token != 0) == (msg->qos > 0));
	if (token == 0)
		return;
	if (hook_mode == 1)
		mqtt_client_ack(fuzz_mc, token);
	else if (nheld < FUZZ_HELD)
		held[nheld++] = token;
}

static void fuzz_suback(void *ctx, const char *filter, size_t len, int granted)
{
	(void)ctx;
	FUZZ_ASSERT(filter != NULL && len > 0);
	FUZZ_ASSERT(granted >= -1 && granted <= 2);
}

/* A new connection: one end to the client, the other kept (and drained). */
static int fuzz_attach(struct mqtt_client *mc, int *peer)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return -1;
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	*peer = sv[1];
	mqtt_client_attach(mc, sv[0]);
	return 0;
}

static void fuzz_drain(int peer)
{
	char sink[4096];

	while (read(peer, sink, sizeof(sink)) > 0)
		;
}

static void fuzz_action(struct mqtt_client *mc, uint8_t a)
{
	static const char *const filters[] = {"a/#", "+/b", "$SYS/#", "x"};
	const char *f = filters[(a >> 3) % 4];
	size_t i;

	switch (a & 7) {
	case 0:
	case 1:
	case 2:
		mqtt_client_publish(mc, "t/p", 3, "payload", 7, a & 3, (a >> 5) & 1, true);
		break;
	case 3:
		mqtt_client_subscribe(mc, f, strlen(f), (a >> 5) % 3);
		break;
	case 4:
		mqtt_client_unsubscribe(mc, f, strlen(f));
		break;
	case 5:
		for (i = nheld; i > 0; i--)
			mqtt_client_ack(mc, held[i - 1]);
		nheld = 0;
		break;
	case 6:
		mqtt_client_stop(mc);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool inited;
	char text[512], err[ERR_LEN];
	struct mqtt_client_stats st;
	struct loop *loop;
	struct cfg cfg;
	struct mqtt_client_opts opts;
	struct mqtt_client *mc;
	size_t off = 1;
	int peer = -1, attaches = 0;
	uint8_t ctl;

	if (!inited) {
		log_init(LOGL_ERROR, false);
		inited = true;
	}
	if (size < 1)
		return 0;
	ctl = data[0];
	snprintf(text, sizeof(text),
	         "broker.url = 127.0.0.1:1\nbroker.client_id = fuzz\nbroker.max_packet = 4096\n"
	         "broker.clean_session = %s\nbroker.protocol = %s\npublish.lwTopic = %s\n"
	         "queue.max_messages = 50\n",
	         (ctl & 1) ? "true" : "false", (ctl & 2) ? "MQTTv31" : "MQTTv311",
	         (ctl & 4) ? "mqtt" : "");
	cfg_defaults(&cfg);
	FUZZ_ASSERT(cfg_parse(&cfg, "fuzz", text, strlen(text), "fuzzhost", err, sizeof(err)) == 0);
	loop = loop_new();
	cfg_mqtt_client_opts(&cfg, &opts);
	mc = mqtt_client_new(loop, &opts);
	fuzz_mc = mc;
	hook_mode = (ctl >> 3) % 3;
	nheld = 0;
	if (hook_mode != 0)
		mqtt_client_on_message(mc, fuzz_hook, NULL);
	mqtt_client_on_suback(mc, fuzz_suback, NULL);
	if (fuzz_attach(mc, &peer) == 0)
		attaches++;
	while (off < size) {
		size_t len = data[off++];

		if (len == 0) {
			if (off < size)
				fuzz_action(mc, data[off++]);
			continue;
		}
		if (len > size - off)
			len = size - off;
		if (mqtt_client_input(mc, data + off, len) != 0 && attaches < 8 &&
		    !mqtt_client_stopped(mc)) {
			/* Dropped: the stream goes on over a new connection. */
			close(peer);
			peer = -1;
			nheld = 0;
			if (fuzz_attach(mc, &peer) == 0)
				attaches++;
		}
		off += len;
		if (peer >= 0)
			fuzz_drain(peer);
	}
	mqtt_client_stats(mc, &st);
	FUZZ_ASSERT(st.connected == mqtt_client_connected(mc));
	/* The window, plus QoS 1/2 messages of earlier connections. */
	FUZZ_ASSERT(st.inflight <= 64 + 64);
	mqtt_client_free(mc);
	if (peer >= 0)
		close(peer);
	loop_free(loop);
	cfg_free(&cfg);
	return 0;
}
