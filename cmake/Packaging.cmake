# Packaging.cmake — what `cmake --install` puts where, and the .deb (CPack).
#
# Included by CMakeLists.txt after the targets. Every destination is
# relative to the prefix (GNUInstallDirs), so one build installs anywhere
# (`cmake --install build --prefix DIR`) and packages for /usr:
#
#   bin/traceshim                            the command (scripts/traceshim, configured)
#   lib/<multiarch>/libtraceshim.so          the library (lib/ where there is no multiarch)
#   libexec/traceshim/traceshim-{view,check,config,system}
#   share/man/man1/traceshim.1.gz            the manual (doc/traceshim.1)
#   share/bash-completion/completions/traceshim
#   share/doc/traceshim/                     README.md, CHANGELOG.md, docs/containers.md,
#                                            and the container recipe's files (examples/)

# --- install
configure_file(${CMAKE_SOURCE_DIR}/scripts/traceshim ${CMAKE_BINARY_DIR}/traceshim-installed @ONLY)
# the library through a temporary file and a rename, never rewritten in
# place (cmake/install_library.cmake says why)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(ts_libdir "${CMAKE_INSTALL_LIBDIR}")
else()
  set(ts_libdir "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}")
endif()
install(CODE "set(TS_LIBRARY_FILE \"$<TARGET_FILE:traceshim>\")
set(TS_LIBRARY_DIR \"${ts_libdir}\")
set(TS_STRIP \"${CMAKE_STRIP}\")")
install(SCRIPT ${CMAKE_SOURCE_DIR}/cmake/install_library.cmake)
install(TARGETS traceshim-view traceshim-check traceshim-config
  RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/traceshim)
install(PROGRAMS ${CMAKE_SOURCE_DIR}/scripts/traceshim-system
  DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/traceshim)
install(PROGRAMS ${CMAKE_BINARY_DIR}/traceshim-installed DESTINATION ${CMAKE_INSTALL_BINDIR}
  RENAME traceshim)

# the manual, compressed as Debian ships manuals (gzip -n: no name or time
# stamp, so the same source gives the same bytes)
add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/traceshim.1.gz
  COMMAND sh -c "gzip -9n -c \"$1\" > \"$2\"" sh
    ${CMAKE_SOURCE_DIR}/doc/traceshim.1 ${CMAKE_BINARY_DIR}/traceshim.1.gz
  DEPENDS ${CMAKE_SOURCE_DIR}/doc/traceshim.1
  COMMENT "traceshim.1.gz"
  VERBATIM)
add_custom_target(traceshim-man ALL DEPENDS ${CMAKE_BINARY_DIR}/traceshim.1.gz)
install(FILES ${CMAKE_BINARY_DIR}/traceshim.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/scripts/traceshim.bash-completion
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME traceshim)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/CHANGELOG.md
  ${CMAKE_SOURCE_DIR}/docs/containers.md
  DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${CMAKE_SOURCE_DIR}/packaging/container/Dockerfile
  ${CMAKE_SOURCE_DIR}/packaging/container/Dockerfile.init
  ${CMAKE_SOURCE_DIR}/packaging/kubernetes/traceshim-deployment.yaml
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# --- the Debian package: `cpack -G DEB` in the build folder (or
# `cmake --build build --target package`) writes traceshim_<version>_amd64.deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME traceshim)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR traceshim)
set(CPACK_PACKAGE_CONTACT "traceshim maintainers <traceshim@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "distributed tracing for unmodified Linux programs (LD_PRELOAD)")
# the long description (CPack puts the summary above it as the synopsis)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"libtraceshim.so interposes the C library's socket calls, turns every
HTTP/1.x request a program sends or serves into a span, and carries the
trace context to the next service in B3 and W3C traceparent headers.
Spans go to a file, an OpenTelemetry collector, Zipkin or Jaeger.

The traceshim command runs a program traced (traceshim run), draws the
spans (traceshim view), says whether a program can be traced (traceshim
check), and turns tracing on for chosen programs of the whole host
through /etc/ld.so.preload (traceshim enable --system).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # traceshim_<version>_<arch>.deb
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends from the ELF files themselves (dpkg-shlibdeps, from dpkg-dev):
# PCRE2, libelf and zlib are linked in statically, so only libc6 remains.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# opened with dlopen only when asked for: TRACESHIM_TRUST_INBOUND=hmac
# (libcrypto.so.3) and TRACESHIM_STACKS (libunwind.so.8)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libssl3, libunwind8")
# prerm names the library's path in the package (the file it takes out of
# /etc/ld.so.preload before dpkg deletes it)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(TS_PACKAGED_LIB "${CMAKE_INSTALL_LIBDIR}/libtraceshim.so")
else()
  set(TS_PACKAGED_LIB "${CPACK_PACKAGING_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libtraceshim.so")
endif()
configure_file(${CMAKE_SOURCE_DIR}/packaging/deb/prerm ${CMAKE_BINARY_DIR}/deb/prerm @ONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_BINARY_DIR}/deb/prerm ${CMAKE_SOURCE_DIR}/packaging/deb/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_SOURCE_IGNORE_FILES "/build.*/;/\\\\.git/")
include(CPack)
