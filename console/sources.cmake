# The web console's sources, relative to console/: a change to any of them re-runs the build
# (CMakeLists.txt). Keep it exact: every file build.mjs reads, nothing else.
set(ALTER_CONSOLE_SOURCES
    build.mjs
    index.html
    package.json
    package-lock.json
    src/api.js
    src/console.css
    src/main.jsx
    src/router.js
    src/ui.jsx
    src/pages/Approvals.jsx
    src/pages/Audit.jsx
    src/pages/Connections.jsx
    src/pages/Keys.jsx
    src/pages/Overview.jsx
    src/pages/Policies.jsx
    src/pages/SignIn.jsx)
