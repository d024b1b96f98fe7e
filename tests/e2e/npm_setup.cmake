# CTest fixture setup of an e2e test (cmake -P): copies a directory of Node.js scripts (the OAuth
# peer and browser driver, or the console's browser driver) from SOURCE_DIR into DEST_DIR (in the
# build tree) and installs their pinned packages with `npm ci`. PACKAGES (comma-separated) names the
# packages that must be in node_modules afterwards.
# `npm ci` runs again only when package-lock.json changed (a stamp holds its hash); the scripts are
# copied every time, so edits to them take effect without a re-configure.
# Never downloads a browser: playwright-core has no install step, and the test uses Debian's chromium.
foreach(var SOURCE_DIR DEST_DIR PACKAGES)
  if(NOT ${var})
    message(FATAL_ERROR "npm_setup.cmake: ${var} is not set")
  endif()
endforeach()
foreach(tool NPM NODE CHROMIUM)
  if(NOT ${tool} OR NOT EXISTS "${${tool}}")
    message(FATAL_ERROR "e2e: ${tool} was not found at configure time ('${${tool}}'). Install node (>= 20), npm and "
                        "chromium (scripts/install-deps.sh build test), then re-run cmake.")
  endif()
endforeach()

execute_process(COMMAND "${NODE}" -p "process.versions.node.split('.')[0]"
                OUTPUT_VARIABLE node_major OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR node_major LESS 20)
  message(FATAL_ERROR "e2e: ${NODE} is Node.js '${node_major}'; the e2e tests need Node.js >= 20 (oidc-provider 9)")
endif()

file(MAKE_DIRECTORY "${DEST_DIR}")
file(GLOB scripts "${SOURCE_DIR}/*.mjs")
file(COPY "${SOURCE_DIR}/package.json" "${SOURCE_DIR}/package-lock.json" ${scripts} DESTINATION "${DEST_DIR}")

file(SHA256 "${SOURCE_DIR}/package-lock.json" lock_hash)
set(stamp "${DEST_DIR}/.npm-ci.stamp")
set(installed "")
if(EXISTS "${stamp}")
  file(READ "${stamp}" installed)
endif()
string(REPLACE "," ";" packages "${PACKAGES}")
set(all_there TRUE)
foreach(package IN LISTS packages)
  if(NOT EXISTS "${DEST_DIR}/node_modules/${package}/package.json")
    set(all_there FALSE)
  endif()
endforeach()
if(installed STREQUAL lock_hash AND all_there)
  message(STATUS "e2e: node_modules up to date in ${DEST_DIR}")
  return()
endif()

file(REMOVE "${stamp}")
message(STATUS "e2e: npm ci in ${DEST_DIR}")
execute_process(COMMAND "${NPM}" ci --no-audit --no-fund
                WORKING_DIRECTORY "${DEST_DIR}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "e2e: npm ci failed (${rc}) in ${DEST_DIR}")
endif()
foreach(package IN LISTS packages)
  if(NOT EXISTS "${DEST_DIR}/node_modules/${package}/package.json")
    message(FATAL_ERROR "e2e: npm ci in ${DEST_DIR} did not install ${package}")
  endif()
endforeach()
file(WRITE "${stamp}" "${lock_hash}")
