"""What the pages for the finance office's record forms, the enterprise's application and bulk uploads say (folded into api.web.i18n.MESSAGES)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
