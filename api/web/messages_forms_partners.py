"""What the pages for the fund manager's, bank's and service provider's record forms and the bank's page say (folded into api.web.i18n.MESSAGES)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {"zh": {}, "en": {}}
