/*
 * main: the octomqttd program. Reads the arguments and the configuration,
 * wires the modules together on one loop, turns signals into flags, and
 * runs until SIGTERM/SIGINT. No protocol logic lives here.
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cfg.h"
#include "http_server.h"
#include "log.h"
#include "loop.h"
#include "mqtt_client.h"
#include "net.h"
#include "presence.h"
#include "registry.h"
#include "subs.h"
#include "tls.h"
#include "webhook.h"

#define EXIT_USAGE  64 /* EX_USAGE */
#define EXIT_CONFIG 78 /* EX_CONFIG */

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/octomqttd.conf"

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_hup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = sig;
}

/*
 * Wiring of subs to the webhook client: one delivery target per
 * subscription. webhook_add_target() checks the host's addresses against
 * webhook.allow again (the configuration may have changed since the
 * subscription was registered), and every connect is checked once more.
 */
struct main_hooks {
	struct webhook *h_wh;
};

static int main_add_target(void *ctx, const struct reg_entry *e)
{
	struct main_hooks *h = ctx;
	char err[ERR_LEN];

	if (webhook_add_target(h->h_wh, e->id, e->url, err, sizeof(err)) != 0) {
		log_warnx("subscription %s (%s): %s", e->id, e->url, err);
		return -1;
	}
	return 0;
}

static void main_remove_target(void *ctx, const char *id)
{
	struct main_hooks *h = ctx;

	webhook_remove_target(h->h_wh, id);
}

static int main_deliver(void *ctx, const struct reg_entry *e, const char *body, size_t len,
                        uint64_t cookie)
{
	struct main_hooks *h = ctx;

	return webhook_enqueue(h->h_wh, e->id, body, len, cookie);
}

/* Deliveries backed up: stop reading from the broker until they drain. */
static void main_backlog(void *ctx, bool backlogged)
{
	mqtt_client_pause(ctx, backlogged);
}

/*
 * The TLS settings of the broker link (broker) or of https webhooks as a
 * tls_conf: the files are read and checked here. NULL with err
 * "FILE:LINE: key: what is wrong" when one of them does not load.
 */
static struct tls_conf *main_tls_conf(const struct cfg *cfg, bool broker, char *err, size_t errlen)
{
	struct tls_conf_opts o = {0};
	struct tls_conf *tc;
	enum tls_file which;
	char why[ERR_LEN], where[ERR_LEN / 2];
	const char *key;

	if (broker) {
		o.ca_file = cfg->broker_tls_ca_certs;
		o.cert_file = cfg->broker_tls_certfile;
		o.key_file = cfg->broker_tls_keyfile;
		o.verify = cfg->broker_tls_verify;
		o.check_name = !cfg->broker_tls_insecure;
	} else {
		o.ca_file = cfg->webhook_tls_ca_certs;
		o.verify = true;
		o.check_name = !cfg->webhook_tls_insecure;
	}
	tc = tls_conf_new(&o, &which, why, sizeof(why));
	if (tc != NULL)
		return tc;
	switch (which) {
	case TLS_FILE_CERT:
		key = "broker.tls_certfile";
		break;
	case TLS_FILE_KEY:
		key = "broker.tls_keyfile";
		break;
	case TLS_FILE_CA:
		key = broker ? "broker.tls_ca_certs" : "webhook.tls_ca_certs";
		break;
	default:
		key = broker ? "broker.tls" : "webhook.tls_ca_certs";
		break;
	}
	err_printf(err, errlen, "%s: %s", cfg_where(cfg, key, where, sizeof(where)), why);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: octomqttd [-c FILE] [-t] [-v] [-V] [-h]\n"
	           "  -c FILE  configuration file (default " DEFAULT_CONFIG ")\n"
	           "  -t       check the configuration and exit\n"
	           "  -v       more logging (repeat for more)\n"
	           "  -V       print the version and exit\n"
	           "  -h       print this help and exit\n");
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

int main(int argc, char **argv)
{
	const char *path = DEFAULT_CONFIG;
	char err[ERR_LEN], listen_addr[NET_ADDR_LEN], broker_addr[NET_ADDR_LEN];
	struct http_server *srv;
	struct mqtt_client *mc;
	struct api *api;
	struct presence *presence = NULL; /* publish.lwHostTimeout > 0 */
	struct registry *reg;
	struct webhook *wh;
	struct webhook_opts wo;
	struct webhook_stats ws;
	struct subs *subs;
	struct main_hooks hooks;
	struct subs_ops ops = {main_add_target, main_remove_target, main_deliver, &hooks};
	struct loop *loop;
	struct tls_conf *broker_tls = NULL;
	struct cfg cfg;
	struct mqtt_client_opts mc_opts;
	bool check = false;
	int verbose = 0, ch, level;
	uint64_t deadline;

	while ((ch = getopt(argc, argv, "c:tvVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'V':
			printf("octomqttd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "octomqttd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (cfg_load(&cfg, path, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		cfg_free(&cfg);
		return check ? 1 : EXIT_CONFIG;
	}
	/* TLS files are read at start-up and by -t: a bad one stops both. */
	if (cfg.broker_tls && (broker_tls = main_tls_conf(&cfg, true, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		cfg_free(&cfg);
		return check ? 1 : EXIT_CONFIG;
	}
	if (cfg.webhook_tls_ca_certs != NULL) {
		struct tls_conf *tc = main_tls_conf(&cfg, false, err, sizeof(err));

		if (tc == NULL) {
			fprintf(stderr, "%s\n", err);
			tls_conf_free(broker_tls);
			cfg_free(&cfg);
			return check ? 1 : EXIT_CONFIG;
		}
		tls_conf_free(tc);
	}
	if (check) {
		printf("%s: configuration OK\n", path);
		tls_conf_free(broker_tls);
		cfg_free(&cfg);
		return 0;
	}
	level = (int)cfg.log_level + verbose;
	log_init(level > LOGL_DEBUG ? LOGL_DEBUG : (enum log_level)level, false);
	install_signals();

	loop = loop_new();
	cfg_mqtt_client_opts(&cfg, &mc_opts);
	mc = mqtt_client_new(loop, &mc_opts);
	mqtt_client_tls(mc, broker_tls);
	if (cfg.broker_tls && !cfg.broker_tls_verify)
		log_warnx("broker.tls_verify = false: the broker's certificate is not checked");
	else if (cfg.broker_tls && cfg.broker_tls_insecure)
		log_warnx("broker.tls_insecure = true: the broker's host name is not checked");
	if (cfg.queue_spool != NULL &&
	    mqtt_client_spool(mc, cfg.queue_spool, err, sizeof(err)) != 0) {
		log_errorx("%s", err);
		mqtt_client_free(mc);
		tls_conf_free(broker_tls);
		loop_free(loop);
		cfg_free(&cfg);
		return 1;
	}
	reg = registry_new(cfg.state_file);
	if (registry_load(reg, err, sizeof(err)) != 0) {
		/* Damaged or unreadable: never a silent fresh start (issue 18). */
		log_errorx("%s", err);
		registry_free(reg);
		mqtt_client_free(mc);
		tls_conf_free(broker_tls);
		loop_free(loop);
		cfg_free(&cfg);
		return EXIT_CONFIG;
	}
	webhook_opts_init(&wo);
	wo.timeout_ms = (int64_t)cfg.webhook_timeout * 1000;
	wo.retries = cfg.webhook_retries;
	wo.max_pending = cfg.webhook_max_pending;
	wo.tls_ca_file = cfg.webhook_tls_ca_certs;
	wo.tls_insecure = cfg.webhook_tls_insecure;
	wh = webhook_new(loop, &wo);
	webhook_set_allow(wh, cfg.webhook_allow, cfg.webhook_allow_n);
	webhook_on_backlog(wh, main_backlog, mc);
	hooks.h_wh = wh;
	subs = subs_new(reg, mc, cfg.sub_qos, &ops);
	/* An inbound message is acknowledged once its deliveries have ended. */
	webhook_on_done(wh, subs_on_done, subs);
	mqtt_client_on_message(mc, subs_on_message, subs);
	subs_sync(subs);
	if (registry_count(reg) > 0)
		log_info("%zu subscription(s) from %s", registry_count(reg), cfg.state_file);
	api = api_new(&cfg, mc, NULL);
	api_set_subscriptions(api, reg, subs, wh);
	if (cfg.pub_lw_host_timeout > 0) {
		presence = presence_new(loop, mc, cfg.pub_lw_host_timeout);
		api_set_presence(api, presence);
	}
	srv = http_server_new(loop, &cfg, api_handle, api, err, sizeof(err));
	if (srv == NULL) {
		log_errorx("%s", err);
		api_free(api);
		presence_free(presence);
		subs_free(subs);
		webhook_free(wh);
		registry_free(reg);
		mqtt_client_free(mc);
		tls_conf_free(broker_tls);
		loop_free(loop);
		cfg_free(&cfg);
		return 1;
	}
	api_set_server(api, srv);
	log_info("octomqttd %s: listening on %s, broker %s", PACKAGE_VERSION,
	         net_addr_text(cfg.http_listen_host, cfg.http_listen_port, listen_addr,
	                       sizeof(listen_addr)),
	         net_addr_text(cfg.broker_host, cfg.broker_port, broker_addr, sizeof(broker_addr)));
	mqtt_client_start(mc);

	/* select() returns early on a signal (EINTR), so flags are seen at once. */
	while (!got_stop) {
		loop_run_once(loop, 1000);
		log_flush_limits(false);
		if (got_hup) {
			got_hup = 0;
			log_info("SIGHUP ignored; restart octomqttd to reload its configuration");
		}
	}
	log_info("%s: shutting down (up to %u s)", got_stop == SIGINT ? "SIGINT" : "SIGTERM",
	         cfg.shutdown_grace);
	http_server_stop_accepting(srv);
	mqtt_client_stop(mc);
	deadline = loop_clock_ms() + (uint64_t)cfg.shutdown_grace * 1000;
	/* The broker link closes; webhook deliveries already queued go out. */
	for (;;) {
		webhook_stats(wh, &ws);
		if ((mqtt_client_stopped(mc) && ws.pending == 0) || loop_clock_ms() >= deadline)
			break;
		loop_run_once(loop, 100);
	}
	if (!mqtt_client_stopped(mc))
		log_warnx("shutdown.grace (%u s) passed before the broker connection closed",
		          cfg.shutdown_grace);
	if (ws.pending > 0)
		log_warnx("%llu webhook delivery(ies) not made at shutdown",
		          (unsigned long long)ws.pending);
	http_server_free(srv);
	api_free(api);
	presence_free(presence);
	subs_free(subs);
	webhook_free(wh);
	registry_free(reg);
	mqtt_client_free(mc);
	tls_conf_free(broker_tls);
	loop_free(loop);
	cfg_free(&cfg);
	log_flush_limits(true);
	log_info("stopped");
	return 0;
}
