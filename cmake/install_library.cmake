# install_library.cmake — `cmake --install` puts libtraceshim.so in place
# by a rename. Included by cmake_install.cmake (install(SCRIPT) in
# cmake/Packaging.cmake, which sets TS_LIBRARY_FILE, TS_LIBRARY_DIR and
# TS_STRIP just before).
#
# With system mode on, every program that starts maps the installed
# library. install(TARGETS) unlinks the old file and writes the new one at
# the same path, so a program starting meanwhile mapped a file still being
# written (SIGBUS, seen). Here the new file is written, and stripped, in a
# folder of its own beside it (same file system) and renamed over the old
# one: every program maps the old file or the new one, whole, and those
# that have the old one mapped keep it. The file is rewritten on every
# install, as cmake's "Up-to-date" check cannot look at it.
get_filename_component(ts_name "${TS_LIBRARY_FILE}" NAME)
set(ts_dir "$ENV{DESTDIR}${TS_LIBRARY_DIR}")
set(ts_staging "${ts_dir}/.${ts_name}.installing")
file(REMOVE_RECURSE "${ts_staging}")
file(COPY "${TS_LIBRARY_FILE}" DESTINATION "${ts_staging}"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
if(CMAKE_INSTALL_DO_STRIP AND TS_STRIP)
  execute_process(COMMAND "${TS_STRIP}" "${ts_staging}/${ts_name}")
endif()
if(NOT CMAKE_INSTALL_MESSAGE STREQUAL "NEVER")
  message(STATUS "Installing: ${ts_dir}/${ts_name}")
endif()
file(RENAME "${ts_staging}/${ts_name}" "${ts_dir}/${ts_name}")
file(REMOVE_RECURSE "${ts_staging}")
list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${TS_LIBRARY_DIR}/${ts_name}")
