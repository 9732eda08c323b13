/*
 * fuzz_cfg: libFuzzer harness for cfg_parse().
 *
 * The input is a config file. It is parsed from an exact-size heap copy so
 * that ASan sees any read past its end, then freed (LeakSanitizer sees
 * anything cfg_free() misses). On success the settings must hold what
 * cfg.h promises; on failure the message must name the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "cfg.h"

#define FUZZ_NAME "fuzz.conf"

static void fuzz_check_cfg(const struct cfg *cfg)
{
	size_t i;

	FUZZ_ASSERT(cfg->broker_host != NULL);
	FUZZ_ASSERT(cfg->broker_port > 0);
	FUZZ_ASSERT(cfg->broker_client_id != NULL && cfg->broker_client_id[0] != '\0');
	FUZZ_ASSERT(cfg->broker_protocol == MQTT_PROTO_V311 ||
	            cfg->broker_protocol == MQTT_PROTO_V31);
	if (cfg->broker_protocol == MQTT_PROTO_V31)
		FUZZ_ASSERT(strlen(cfg->broker_client_id) <= 23);
	FUZZ_ASSERT(cfg->broker_keepalive <= 65535);
	FUZZ_ASSERT(cfg->broker_reconnect_min >= 1 &&
	            cfg->broker_reconnect_min <= cfg->broker_reconnect_max);
	FUZZ_ASSERT(cfg->pub_base_topic != NULL && cfg->pub_event_topic != NULL);
	FUZZ_ASSERT(cfg->pub_qos >= 0 && cfg->pub_qos <= 2);
	FUZZ_ASSERT(cfg->pub_events_exclude != NULL);
	for (i = 0; cfg->pub_events_exclude[i] != NULL; i++) {
		const char *ev = cfg->pub_events_exclude[i];

		FUZZ_ASSERT(ev[0] != '\0');
		FUZZ_ASSERT(cfg_event_excluded(cfg, ev, strlen(ev)));
	}
	FUZZ_ASSERT(cfg->http_listen_host != NULL && cfg->http_listen_port > 0);
	FUZZ_ASSERT(cfg->http_max_body > 0 && cfg->http_max_header > 0);
	FUZZ_ASSERT(cfg->queue_max_messages > 0 && cfg->queue_max_bytes > 0);
	FUZZ_ASSERT(cfg->log_level == LOGL_ERROR || cfg->log_level == LOGL_WARN ||
	            cfg->log_level == LOGL_INFO || cfg->log_level == LOGL_DEBUG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size > 0 ? size : 1);
	char err[ERR_LEN];
	struct cfg cfg;

	memcpy(text, data, size);
	/* A marker that must be overwritten by a message on failure. */
	memset(err, 'X', sizeof(err));
	cfg_defaults(&cfg);
	if (cfg_parse(&cfg, FUZZ_NAME, text, size, "fuzzhost", err, sizeof(err)) == 0) {
		fuzz_check_cfg(&cfg);
	} else {
		FUZZ_ASSERT(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_ASSERT(strncmp(err, FUZZ_NAME ":", strlen(FUZZ_NAME ":")) == 0);
	}
	cfg_free(&cfg);
	free(text);
	return 0;
}
