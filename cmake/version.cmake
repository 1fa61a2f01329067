# Writes version.h with the current git commit at every build (not only at
# configure time), and only when it changed, so `gpuops --version` always names
# the commit the binary was built from without forcing rebuilds.
# Inputs: SRC (source dir), OUT (header path), VERSION.
execute_process(COMMAND git describe --always --dirty --abbrev=12
                WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE GIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT GIT)
  set(GIT "unknown")
endif()
set(TEXT "/* Generated at build time by cmake/version.cmake: the version gpuops reports. */
#ifndef GPUOPS_VERSION_H
#define GPUOPS_VERSION_H
#define GPUOPS_VERSION \"${VERSION}\"
#define GPUOPS_GIT_COMMIT \"${GIT}\"
#endif
")
if(EXISTS ${OUT})
  file(READ ${OUT} OLD)
else()
  set(OLD "")
endif()
if(NOT OLD STREQUAL TEXT)
  file(WRITE ${OUT} "${TEXT}")
endif()
