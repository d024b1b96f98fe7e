"""Provider and HttpMethod: ``str`` enums, so ``Provider.GOOGLE == "google"``."""
from __future__ import annotations

import enum

__all__ = ["Provider", "HttpMethod"]


class Provider(enum.StrEnum):
    """Well-known providers of the vault's catalog. Any other catalog id works as a plain string
    (``"notion"``)."""

    GOOGLE = "google"
    GITHUB = "github"
    SLACK = "slack"
    MICROSOFT = "microsoft"
    SALESFORCE = "salesforce"
    SENTRY = "sentry"
    NOTION = "notion"
    GITLAB = "gitlab"
    BITBUCKET = "bitbucket"
    ATLASSIAN = "atlassian"
    ASANA = "asana"
    LINEAR = "linear"
    HUBSPOT = "hubspot"
    ZOOM = "zoom"
    DROPBOX = "dropbox"
    BOX = "box"
    DISCORD = "discord"
    SPOTIFY = "spotify"
    X = "x"
    LINKEDIN = "linkedin"
    SHOPIFY = "shopify"
    STRIPE = "stripe"
    FIGMA = "figma"
    AIRTABLE = "airtable"
    INTERCOM = "intercom"
    ZENDESK = "zendesk"
    QUICKBOOKS = "quickbooks"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    TWILIO = "twilio"
    SENDGRID = "sendgrid"
    MAILGUN = "mailgun"
    PAGERDUTY = "pagerduty"
    AWS_S3 = "aws-s3"


class HttpMethod(enum.StrEnum):
    """HTTP methods accepted by ``AlterVault.request``."""

    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"
