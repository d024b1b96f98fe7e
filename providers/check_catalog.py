#!/usr/bin/env python3
"""Checks the provider catalog against providers/SCHEMA.md (python3 standard library only).

Usage: python3 providers/check_catalog.py [PROVIDERS_DIR]

Every problem is printed on its own line; the exit status is 1 if there is any, else 0.
What is checked:
  - each *.json parses, holds one object, has no duplicate keys and is written canonically
    (2-space indent, fields in SCHEMA.md order, trailing newline);
  - id equals the file name; required fields are present; no field outside SCHEMA.md; types and
    enum values are those of SCHEMA.md (the field table is read from SCHEMA.md itself);
  - URLs are https; every {variable} used is declared and every declared one is used;
    variable patterns compile and defaults match them;
  - api_hosts are host names (no scheme, port, path), never a bare "*" nor a wildcard over a
    public suffix or a shared hosting domain;
  - default scopes hold no separator and no admin-level scope; authorization_params do not
    override the parameters the vault sets itself;
  - catalog.cmake lists exactly the JSON files present, sorted, without globbing;
  - every id of the SDK's alter::Provider enum has a file.
"""

import json
import pathlib
import re
import sys

# Ids the C++ SDK's alter::Provider enum maps to (sdk/include/alter/provider.hpp).
SDK_PROVIDER_IDS = [
    "google", "github", "slack", "microsoft", "salesforce", "sentry", "notion", "gitlab",
    "bitbucket", "atlassian", "asana", "linear", "hubspot", "zoom", "dropbox", "box", "discord",
    "spotify", "x", "linkedin", "shopify", "stripe", "figma", "airtable", "intercom", "zendesk",
    "quickbooks", "openai", "anthropic", "twilio", "sendgrid", "mailgun", "pagerduty", "aws-s3",
]

ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
VAR_RE = re.compile(r"\{([^{}]*)\}")
VAR_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
LABEL = r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?|\{[a-z][a-z0-9_]*\})"
HOST_RE = re.compile(r"^(?:\*\.)?" + LABEL + r"(?:\." + LABEL + r")*$")
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
DOT_PATH_RE = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*$")
ADMIN_SCOPE_RE = re.compile(r"(^|[:._ /-])admin($|[:._ /-])", re.IGNORECASE)

URL_FIELDS = ["docs_url", "authorization_url", "token_url", "refresh_url", "revocation_url", "userinfo_url"]
TEMPLATED_FIELDS = ["authorization_url", "token_url", "refresh_url", "revocation_url", "userinfo_url"]
RESERVED_AUTH_PARAMS = {"client_id", "redirect_uri", "state", "response_type", "code_challenge",
                        "code_challenge_method", "scope"}
TOKEN_RESPONSE_KEYS = {"access_token", "refresh_token", "expires_in", "scope", "token_type"}
VARIABLE_KEYS = {"scope", "pattern", "default", "description"}
VARIABLE_SCOPES = {"connection", "credential"}
SCOPE_SEPARATORS = {" ", ","}
# A provider whose credential is an API key, Basic or an AWS key has none of these (SCHEMA.md).
OAUTH_ONLY = {"authorization_url", "token_url", "refresh_url", "revocation_url", "revocation_auth", "userinfo_url",
              "issuer", "default_scopes", "scope_separator", "scope_param", "pkce", "client_auth",
              "token_request_format", "authorization_params", "api_hosts_from_fields", "token_header", "refresh",
              "keep_fields", "keep_callback_params", "token_response_paths", "token_params"}
# An OAuth 2 client-credentials provider has no browser flow and no refresh token: none of these.
AUTHORIZATION_CODE_ONLY = {"authorization_url", "refresh_url", "userinfo_url", "issuer", "pkce", "authorization_params",
                           "api_hosts_from_fields", "refresh", "keep_fields", "keep_callback_params"}
# ... and these are optional for it.
CLIENT_CREDENTIALS_OPTIONAL = {"default_scopes", "scope_separator"}
RESERVED_TOKEN_PARAMS = {"grant_type", "client_id", "client_secret", "scope"}
CREDENTIAL_KEYS = {
    "oauth2": {"kind"},
    "api_key": {"kind", "header", "prefix", "query_param", "more_headers"},
    "basic": {"kind", "password_optional"},
    "aws_sigv4": {"kind", "service", "region", "s3"},
    "oauth2_client_credentials": {"kind"},
}
QUERY_PARAM_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
AWS_NAME_RE = re.compile(r"^[a-z0-9-]{1,64}$")
REFUSED_CREDENTIAL_HEADERS = {"host", "content-length", "content-type", "transfer-encoding", "connection", "cookie",
                              "te", "upgrade", "proxy-authorization", "expect"}
# A wildcard must never cover a domain where strangers can host content.
SHARED_DOMAINS = {
    "amazonaws.com", "cloudfront.net", "herokuapp.com", "azurewebsites.net", "cloudapp.net",
    "windows.net", "core.windows.net", "blob.core.windows.net", "appspot.com", "github.io",
    "githubusercontent.com", "gitlab.io", "vercel.app", "netlify.app", "netlify.com", "workers.dev",
    "pages.dev", "web.app", "firebaseapp.com", "firebaseio.com", "run.app", "cloudfunctions.net",
    "fly.dev", "onrender.com", "ngrok.io", "ngrok-free.app", "glitch.me", "repl.co",
    "storage.googleapis.com", "s3.amazonaws.com", "digitaloceanspaces.com", "blogspot.com",
    "wordpress.com", "myshopify.com", "zendesk.com", "force.com", "my.site.com",
}


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def split_row(line):
    cells = re.split(r"(?<!\\)\|", line.strip())
    return [c.strip().replace("\\|", "|") for c in cells[1:-1]]


def read_schema(schema_path, problems):
    """Returns [(name, kind, required, enum_values)] in table order."""
    fields = []
    try:
        text = schema_path.read_text(encoding="utf-8")
    except OSError as e:
        problems.add(str(schema_path), f"cannot read: {e}")
        return fields
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        cells = split_row(line)
        if len(cells) < 4:
            continue
        name = cells[0].strip("`")
        type_cell, required = cells[1], cells[2].lower() == "yes"
        enum = re.findall(r'"([^"]+)"', type_cell)
        if enum:
            kind = "enum"
        elif type_cell.startswith("string[]"):
            kind = "string[]"
        elif type_cell.startswith("string"):
            kind = "string"
        elif type_cell.startswith("bool"):
            kind = "bool"
        elif type_cell.startswith("object of string"):
            kind = "object of string"
        elif type_cell.startswith("object"):
            kind = "object"
        else:
            problems.add(str(schema_path), f"unknown type {type_cell!r} for field {name}")
            continue
        fields.append((name, kind, required, enum))
    if not fields:
        problems.add(str(schema_path), "no field table found")
    return fields


def type_ok(kind, value):
    if kind in ("string", "enum"):
        return isinstance(value, str)
    if kind == "string[]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "object of string":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if kind == "object":
        return isinstance(value, dict)
    return False


def no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def wildcard_too_broad(host):
    base = host[2:]
    if "{" in base:
        return "a wildcard over a {variable}"
    if base.count(".") < 1:
        return "a wildcard over a top-level domain"
    if base in SHARED_DOMAINS or any(base.endswith("." + d) for d in SHARED_DOMAINS):
        return "a wildcard over a shared hosting domain"
    return None


def check_credential(where, c, problems):
    kind = c.get("kind")
    if kind not in CREDENTIAL_KEYS:
        problems.add(where, f"credential.kind {kind!r} is not one of {sorted(CREDENTIAL_KEYS)}")
        return
    for k in sorted(set(c) - CREDENTIAL_KEYS[kind]):
        problems.add(where, f"credential.{k} is not a field of a {kind} credential")
    for k in ("password_optional", "s3"):
        if k in c and not isinstance(c[k], bool):
            problems.add(where, f"credential.{k} should be bool")
    for k in ("header", "prefix", "query_param", "service", "region"):
        if k in c and not isinstance(c[k], str):
            problems.add(where, f"credential.{k} should be string")
    if kind == "api_key":
        header, query = c.get("header"), c.get("query_param")
        if (header is None) == (query is None):
            problems.add(where, "an api_key credential names either a header or a query_param")
        if isinstance(header, str) and (not HEADER_NAME_RE.match(header) or header.lower() in REFUSED_CREDENTIAL_HEADERS):
            problems.add(where, f"credential.header {header!r} is not a header the vault may set")
        if isinstance(query, str) and not QUERY_PARAM_RE.match(query):
            problems.add(where, f"credential.query_param {query!r} is not a parameter name")
        more = c.get("more_headers")
        if more is not None:
            if not isinstance(more, dict) or not more:
                problems.add(where, "credential.more_headers is not an object of header name to field name")
            elif header is None:
                problems.add(where, "credential.more_headers goes with a header, not a query_param")
            else:
                seen_headers, seen_fields = {str(header).lower()}, {"api_key"}
                for h, field in more.items():
                    if not HEADER_NAME_RE.match(h) or h.lower() in REFUSED_CREDENTIAL_HEADERS or h.lower() in seen_headers:
                        problems.add(where, f"credential.more_headers {h!r} is not another header the vault may set")
                    if not isinstance(field, str) or not re.match(r"^[a-z0-9_]{1,32}$", field) or field in seen_fields:
                        problems.add(where, f"credential.more_headers[{h!r}] does not name a new field")
                    seen_headers.add(h.lower())
                    seen_fields.add(field)
        prefix = c.get("prefix")
        if isinstance(prefix, str) and (header is None or len(prefix) > 32 or not all(0x20 <= ord(ch) < 0x7f for ch in prefix)):
            problems.add(where, "credential.prefix goes with a header: up to 32 printable characters")
    if kind == "aws_sigv4":
        if not isinstance(c.get("service"), str) or not AWS_NAME_RE.match(c["service"]):
            problems.add(where, "credential.service is not an AWS signing name")
        region = c.get("region")
        if not isinstance(region, str) or not AWS_NAME_RE.match(VAR_RE.sub("x", region)):
            problems.add(where, "credential.region is not an AWS region or a {variable}")


def check_provider(path, schema, problems):
    where = path.name
    raw = path.read_text(encoding="utf-8")
    try:
        data = json.loads(raw, object_pairs_hook=no_duplicates)
    except ValueError as e:
        problems.add(where, f"invalid JSON: {e}")
        return None
    if not isinstance(data, dict):
        problems.add(where, "top level is not an object")
        return None

    order = [f[0] for f in schema]
    spec = {f[0]: f for f in schema}

    # Canonical form: fields in schema order, 2-space indent, trailing newline.
    unknown = [k for k in data if k not in spec]
    for k in unknown:
        problems.add(where, f"field {k!r} is not in SCHEMA.md")
    present = [k for k in data if k in spec]
    if present != sorted(present, key=order.index):
        problems.add(where, "fields are not in SCHEMA.md order")
    if not unknown and raw != json.dumps(data, indent=2, ensure_ascii=False) + "\n":
        problems.add(where, "not written canonically (2-space indent, one trailing newline)")

    credential = data.get("credential")
    kind_name = credential.get("kind") if isinstance(credential, dict) else "oauth2"
    static = kind_name in ("api_key", "basic", "aws_sigv4")
    client_credentials = kind_name == "oauth2_client_credentials"
    if static:
        for name in sorted(OAUTH_ONLY & set(data)):
            problems.add(where, f"field {name!r} is for OAuth providers, and this one's credential is {kind_name}")
    if client_credentials:
        for name in sorted(AUTHORIZATION_CODE_ONLY & set(data)):
            problems.add(where, f"field {name!r} is for authorization-code providers, and this one's credential is {kind_name}")
    elif "token_params" in data:
        problems.add(where, "token_params is for oauth2_client_credentials providers")
    if isinstance(credential, dict):
        check_credential(where, credential, problems)

    for name, kind, required, enum in schema:
        if name not in data:
            if required and not (static and name in OAUTH_ONLY) and not (
                    client_credentials and name in AUTHORIZATION_CODE_ONLY | CLIENT_CREDENTIALS_OPTIONAL):
                problems.add(where, f"required field {name!r} is missing")
            continue
        value = data[name]
        if not type_ok(kind, value):
            problems.add(where, f"field {name!r} should be {kind}")
            continue
        if kind == "enum" and value not in enum:
            problems.add(where, f"field {name!r} is {value!r}, expected one of {enum}")
        if kind == "string" and value == "":
            problems.add(where, f"field {name!r} is empty")

    pid = data.get("id")
    if isinstance(pid, str):
        if not ID_RE.match(pid):
            problems.add(where, f"id {pid!r} does not match {ID_RE.pattern}")
        if pid != path.stem:
            problems.add(where, f"id {pid!r} differs from the file name")

    # URLs.
    for name in URL_FIELDS:
        value = data.get(name)
        if isinstance(value, str) and not value.startswith("https://"):
            problems.add(where, f"{name} is not an https URL")
    if "revocation_auth" in data and "revocation_url" not in data:
        problems.add(where, "revocation_auth without revocation_url")

    # Variables: declared <-> used.
    variables = data.get("variables", {})
    used = set()
    for name in TEMPLATED_FIELDS:
        if isinstance(data.get(name), str):
            used.update(VAR_RE.findall(data[name]))
    for host in data.get("api_hosts", []) if isinstance(data.get("api_hosts"), list) else []:
        if isinstance(host, str):
            used.update(VAR_RE.findall(host))
    if isinstance(data.get("token_params"), dict):
        for value in data["token_params"].values():
            if isinstance(value, str):
                used.update(VAR_RE.findall(value))
    if isinstance(credential, dict) and isinstance(credential.get("region"), str):
        used.update(VAR_RE.findall(credential["region"]))
    if isinstance(data.get("docs_url"), str) and VAR_RE.search(data["docs_url"]):
        problems.add(where, "docs_url holds a {variable}")
    if isinstance(variables, dict):
        for name in sorted(used - set(variables)):
            problems.add(where, f"{{{name}}} is used but not declared in variables")
        for name, var in variables.items():
            if not VAR_NAME_RE.match(name):
                problems.add(where, f"variable name {name!r} is not [a-z][a-z0-9_]*")
            if name not in used:
                problems.add(where, f"variable {name!r} is declared but never used")
            if not isinstance(var, dict):
                problems.add(where, f"variable {name!r} is not an object")
                continue
            for k in sorted(set(var) - VARIABLE_KEYS):
                problems.add(where, f"variable {name!r} has unknown key {k!r}")
            if var.get("scope") not in VARIABLE_SCOPES:
                problems.add(where, f"variable {name!r} scope must be one of {sorted(VARIABLE_SCOPES)}")
            if var.get("scope") == "credential" and (static or client_credentials):
                problems.add(where, f"variable {name!r} scope must be connection for a {kind_name} credential")
            for k in ("pattern", "description"):
                if not isinstance(var.get(k), str) or not var.get(k):
                    problems.add(where, f"variable {name!r} needs a {k}")
            pattern = var.get("pattern")
            if isinstance(pattern, str):
                if not (pattern.startswith("^") and pattern.endswith("$")):
                    problems.add(where, f"variable {name!r} pattern must be anchored with ^...$")
                try:
                    rx = re.compile(pattern)
                except re.error as e:
                    problems.add(where, f"variable {name!r} pattern does not compile: {e}")
                    rx = None
                default = var.get("default")
                if default is not None:
                    if not isinstance(default, str):
                        problems.add(where, f"variable {name!r} default is not a string")
                    elif rx and not rx.fullmatch(default):
                        problems.add(where, f"variable {name!r} default does not match its pattern")
                if rx:
                    # A value lands in a host or a path: it must never be able to add one.
                    for bad in ("", "a/b", "evil.com/x", "a@evil.com", "x:443", "a b", "a?b", "a#b", "%2e", "a\\b"):
                        if rx.fullmatch(bad):
                            problems.add(where, f"variable {name!r} pattern admits {bad!r}")

    # API hosts.
    hosts = data.get("api_hosts")
    if isinstance(hosts, list):
        if not hosts:
            problems.add(where, "api_hosts is empty")
        if len(set(hosts)) != len(hosts):
            problems.add(where, "api_hosts has duplicates")
        for host in hosts:
            if not isinstance(host, str):
                continue
            if host == "*" or host.startswith("*") and not host.startswith("*."):
                problems.add(where, f"api host {host!r} is too broad")
                continue
            if not HOST_RE.match(host):
                problems.add(where, f"api host {host!r} is not a lower-case host name (no scheme, port or path)")
                continue
            if host.startswith("*."):
                reason = wildcard_too_broad(host)
                if reason:
                    problems.add(where, f"api host {host!r} is {reason}")

    # Scopes.
    sep = data.get("scope_separator")
    if isinstance(sep, str) and sep not in SCOPE_SEPARATORS:
        problems.add(where, f"scope_separator {sep!r} is neither ' ' nor ','")
    for scope in data.get("default_scopes", []) if isinstance(data.get("default_scopes"), list) else []:
        if not isinstance(scope, str) or not scope:
            problems.add(where, "empty default scope")
            continue
        if " " in scope or "," in scope:
            problems.add(where, f"default scope {scope!r} holds a separator")
        if ADMIN_SCOPE_RE.search(scope):
            problems.add(where, f"default scope {scope!r} is admin-level")
    scope_param = data.get("scope_param")
    if isinstance(scope_param, str) and not re.match(r"^[a-z_]+$", scope_param):
        problems.add(where, f"scope_param {scope_param!r} is not a parameter name")

    params = data.get("authorization_params")
    if isinstance(params, dict):
        reserved = RESERVED_AUTH_PARAMS | ({scope_param} if isinstance(scope_param, str) else set())
        for k in params:
            if k in reserved:
                problems.add(where, f"authorization_params must not set {k!r} (the vault sets it)")

    token_params = data.get("token_params")
    if isinstance(token_params, dict):
        reserved = RESERVED_TOKEN_PARAMS | ({scope_param} if isinstance(scope_param, str) else set())
        for k in token_params:
            if k in reserved or not HEADER_NAME_RE.match(k):
                problems.add(where, f"token_params must not set {k!r} (the vault sets it)")

    # Token response handling.
    paths = data.get("token_response_paths")
    if isinstance(paths, dict):
        for k, v in paths.items():
            if k not in TOKEN_RESPONSE_KEYS:
                problems.add(where, f"token_response_paths key {k!r} is not one of {sorted(TOKEN_RESPONSE_KEYS)}")
            if not isinstance(v, str) or not DOT_PATH_RE.match(v):
                problems.add(where, f"token_response_paths[{k!r}] is not a dot path")
        if "access_token" not in paths:
            problems.add(where, "token_response_paths without access_token")
    keep = data.get("keep_fields", [])
    from_fields = data.get("api_hosts_from_fields", [])
    if isinstance(keep, list) and isinstance(from_fields, list):
        for f in from_fields:
            if f not in keep:
                problems.add(where, f"api_hosts_from_fields {f!r} is not in keep_fields")
    header = data.get("token_header")
    if isinstance(header, str) and not HEADER_NAME_RE.match(header):
        problems.add(where, f"token_header {header!r} is not a header name")

    # Refresh consistency.
    if data.get("refresh") in ("never_expires", "none") and "refresh_url" in data:
        problems.add(where, "refresh_url on a provider that does not refresh")

    return data


def check_cmake(cmake_path, json_names, problems):
    where = cmake_path.name
    try:
        text = cmake_path.read_text(encoding="utf-8")
    except OSError as e:
        problems.add(where, f"cannot read: {e}")
        return
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    if re.search(r"\bGLOB", code, re.IGNORECASE):
        problems.add(where, "uses globbing")
    m = re.search(r"set\s*\(\s*ALTER_PROVIDER_FILES\b(.*?)\)", code, re.DOTALL)
    if not m:
        problems.add(where, "does not set(ALTER_PROVIDER_FILES ...)")
        return
    entries = m.group(1).split()
    listed = []
    for entry in entries:
        prefix = "${CMAKE_CURRENT_LIST_DIR}/"
        if not entry.startswith(prefix):
            problems.add(where, f"entry {entry!r} is not an absolute path under ${{CMAKE_CURRENT_LIST_DIR}}")
            continue
        listed.append(entry[len(prefix):])
    for name in sorted(set(n for n in listed if listed.count(n) > 1)):
        problems.add(where, f"{name} is listed twice")
    for name in sorted(set(json_names) - set(listed)):
        problems.add(where, f"{name} is present but not listed")
    for name in sorted(set(listed) - set(json_names)):
        problems.add(where, f"{name} is listed but not present")
    if listed != sorted(listed):
        problems.add(where, "entries are not sorted")


def check_sdk_enum(root, ids, problems):
    header = root / "sdk" / "include" / "alter" / "provider.hpp"
    if not header.is_file():
        return
    m = re.search(r"enum\s+class\s+Provider\s*\{(.*?)\}", header.read_text(encoding="utf-8"), re.DOTALL)
    if not m:
        return
    body = re.sub(r"//[^\n]*|/\*.*?\*/", "", m.group(1), flags=re.DOTALL)
    for name in (n.strip().split("=")[0].strip() for n in body.split(",")):
        # CamelCase to the catalog id: Github -> github, AwsS3 -> aws-s3.
        pid = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", name).lower()
        if name and pid not in ids:
            problems.add("sdk/include/alter/provider.hpp", f"alter::Provider::{name} has no {pid}.json")


def main(argv):
    here = pathlib.Path(argv[1]) if len(argv) > 1 else pathlib.Path(__file__).resolve().parent
    problems = Problems()
    schema = read_schema(here / "SCHEMA.md", problems)
    json_files = sorted(here.glob("*.json"))
    ids = set()
    if schema:
        for path in json_files:
            data = check_provider(path, schema, problems)
            if data and isinstance(data.get("id"), str):
                ids.add(data["id"])
    for pid in SDK_PROVIDER_IDS:
        if pid not in ids:
            problems.add(f"{pid}.json", "missing (the SDK's alter::Provider enum names it)")
    check_cmake(here / "catalog.cmake", [p.name for p in json_files], problems)
    check_sdk_enum(here.parent, ids, problems)

    for item in problems.items:
        print(item)
    if problems.items:
        print(f"{len(problems.items)} problem(s) in {len(json_files)} provider file(s)", file=sys.stderr)
        return 1
    print(f"ok: {len(json_files)} provider files, catalog.cmake in step")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
