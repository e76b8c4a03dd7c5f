"""What the pages for the finance office's and auditor's views: alerts, settlements, chain and reconcile status say (folded into api.web.i18n.MESSAGES)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
