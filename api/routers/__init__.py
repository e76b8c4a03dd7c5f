"""HTTP routers: thin translations between HTTP and the ledger and domain services."""

from api.scopes import ALL_ROLES, Role

READ_ROLES = ALL_ROLES
BOOKKEEPING_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE)
OVERSIGHT_ROLES = (Role.ADMIN, Role.FINANCE_OFFICE, Role.AUDITOR)
WHOLE_LEDGER_ROLES = (Role.ADMIN,)
