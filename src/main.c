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

#define EXIT_USAGE  64 /* EX_USAGE */
#define EXIT_CONFIG 78 /* EX_CONFIG */

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/octomqttd.conf"

/* Brackets around an IPv6 address in "host:port" log text. */
#define V6_OPEN(h)  (strchr((h), ':') != NULL ? "[" : "")
#define V6_CLOSE(h) (strchr((h), ':') != NULL ? "]" : "")

static volatile sig_atomic_t got_stop;
static volatile sig_atomic_t got_hup;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_hup = 1;
	else
		got_stop = sig;
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
	char err[CFG_ERR_LEN];
	struct http_server *srv;
	struct mqtt_client *mc;
	struct api *api;
	struct loop *loop;
	struct cfg cfg;
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
	if (check) {
		printf("%s: configuration OK\n", path);
		cfg_free(&cfg);
		return 0;
	}
	level = (int)cfg.log_level + verbose;
	log_init(level > LOGL_DEBUG ? LOGL_DEBUG : (enum log_level)level, false);
	install_signals();

	loop = loop_new();
	mc = mqtt_client_new(loop, &cfg);
	if (cfg.queue_spool != NULL &&
	    mqtt_client_spool(mc, cfg.queue_spool, err, sizeof(err)) != 0) {
		log_errorx("%s", err);
		mqtt_client_free(mc);
		loop_free(loop);
		cfg_free(&cfg);
		return 1;
	}
	api = api_new(&cfg, mc, NULL);
	srv = http_server_new(loop, &cfg, api_handle, api, err, sizeof(err));
	if (srv == NULL) {
		log_errorx("%s", err);
		api_free(api);
		mqtt_client_free(mc);
		loop_free(loop);
		cfg_free(&cfg);
		return 1;
	}
	api_set_server(api, srv);
	log_info("octomqttd %s: listening on %s%s%s:%u, broker %s%s%s:%u", PACKAGE_VERSION,
	         V6_OPEN(cfg.http_listen_host), cfg.http_listen_host,
	         V6_CLOSE(cfg.http_listen_host), cfg.http_listen_port, V6_OPEN(cfg.broker_host),
	         cfg.broker_host, V6_CLOSE(cfg.broker_host), cfg.broker_port);
	mqtt_client_start(mc);

	/* select() returns early on a signal (EINTR), so flags are seen at once. */
	while (!got_stop) {
		loop_run_once(loop, 1000);
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
	while (!mqtt_client_stopped(mc) && loop_clock_ms() < deadline)
		loop_run_once(loop, 100);
	if (!mqtt_client_stopped(mc))
		log_warnx("shutdown.grace (%u s) passed before the broker connection closed",
		          cfg.shutdown_grace);
	http_server_free(srv);
	api_free(api);
	mqtt_client_free(mc);
	loop_free(loop);
	cfg_free(&cfg);
	log_info("stopped");
	return 0;
}
