/*
 * dossier.h — the profile section of `gpuops dossier --profile`: the summary,
 * the findings and the flamegraph of a saved profile folder (outputs.h), as
 * one report section (report/report.h). The flamegraph travels as the
 * section's "figures" ([{"title", "svg"}]), which the HTML report inlines.
 */
#ifndef GPUOPS_PROFILE_DOSSIER_H
#define GPUOPS_PROFILE_DOSSIER_H

#include <jansson.h>

/* The "profile" section of the folder dir. Status "ok" with no findings,
 * "warn" with some, "fail" when the folder cannot be read (the summary says
 * why). New reference. */
json_t *profile_dossier_section(const char *dir);

#endif
