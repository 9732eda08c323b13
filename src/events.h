/*
 * events: the OctoPrint event names of DESIGN §5 and their classes (§5.1),
 * pure.
 *
 * An event name is 1-128 characters of [A-Za-z0-9_.-]. Each name belongs
 * to one class (publish.events.<class>); names the table of §5.1 does not
 * list are unclassified. Lists of names (publish.events_exclude,
 * publish.retain) are NULL-terminated arrays of C strings.
 */
#ifndef OCTO_EVENTS_H
#define OCTO_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

/* Longest event name. */
#define EVENTS_NAME_MAX 128

/* The event classes of DESIGN §5.1 (publish.events.<class>). */
enum events_class {
	EVENTS_SERVER,
	EVENTS_COMM,
	EVENTS_FILES,
	EVENTS_PRINTJOB,
	EVENTS_GCODE,
	EVENTS_TIMELAPSE,
	EVENTS_SLICING,
	EVENTS_SETTINGS,
	EVENTS_UNCLASSIFIED,
	EVENTS_NCLASSES
};

/* An event name: 1-128 characters of [A-Za-z0-9_.-] (DESIGN §5). */
bool events_name_valid(const char *s, size_t len);
/* The class of an event name (§5.1); any other name is unclassified. */
enum events_class events_class(const char *name, size_t len);
/*
 * Is name[0..len) one of the strings of `list` (NULL-terminated; a NULL
 * list is empty)? Compared byte for byte, case-sensitive.
 */
bool events_listed(char *const *list, const char *name, size_t len);

#endif
