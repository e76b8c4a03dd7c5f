"""Demo data: the shipped Guangzhou programs (and the Fuqing and Nansha shapes) with a few grants.

Idempotent: programs, applications and ledger postings are keyed, and each step runs only if its
object is still in the state it expects, so a second run changes nothing.
"""

from __future__ import annotations

from sqlalchemy import select

from ledger.engine import Ledger
from ledger.entities import credit_code_check_character
from subsidies.config import example_programs
from subsidies.models import APPLICATIONS, GRANTS
from subsidies.service import SubsidyService

DEMO_MAKER = "demo-clerk"
DEMO_CHECKER = "demo-director"
DEMO_CASHIER = "demo-cashier"
REGIONS = {"440100": "广州市", "440115": "南沙区", "350181": "福清市", "442000": "中山市"}
# (17-character stem of a 统一社会信用代码, name, kind, region)
INSTITUTIONS = [
    ("12440000455351007", "华南理工大学（演示）", "university", "440100"),
    ("12440000455859059", "中山大学（演示）", "university", "440100"),
    ("12440101MB2C00013", "广州技术转移服务中心（演示）", "service_provider", "440100"),
    ("91440101MA59A0023", "广州某科技有限公司（演示）", "enterprise", "440115"),
]
# (program, institution index, year, base figures, pay it?)
DEMO_APPLICATIONS = [
    ("gz-income-award-pilot", 0, 2019, {"retained_award_income": "800万"}, True),
    ("gz-income-award-pilot", 0, 2019, {"retained_award_income": "500万"}, False),  # clipped to 200万 (核减)
    ("gz-service-demonstration", 2, 2019, {}, True),
    ("gz-demonstration-plan", 2, 2018, {}, True),
    ("gz-demonstration-plan", 2, 2019, {}, True),
    ("gz-contract-registration", 2, 2019, {"registered_contract_turnover": "600亿"}, False),  # warn: over budget
    ("nansha-revenue-lifetime", 3, 2019, {"revenue": "800万"}, True),
    ("nansha-revenue-lifetime", 3, 2020, {"revenue": "600万"}, False),  # clipped to the 50万 lifetime room
]


def _credit_code(stem: str) -> str:
    return stem + credit_code_check_character(stem)


def load_demo(ledger: Ledger) -> dict:
    service = SubsidyService(ledger)
    for code, name in REGIONS.items():
        ledger.register_region(code, name)
    institutions = [
        ledger.register_institution(_credit_code(stem), name, kind, region_code=region)
        for stem, name, kind, region in INSTITUTIONS
    ]
    programs = example_programs()
    for program, text in programs:
        service.install_program(program, text, actor="demo-admin")
    granted = 0
    for number, (program_code, who, year, figures, pay) in enumerate(DEMO_APPLICATIONS):
        application_id = service.submit_application(
            program_code, institutions[who], year, figures, actor=DEMO_MAKER, client_id=f"demo-{number}"
        )
        if _status(ledger, application_id) == "submitted":
            service.approve(application_id, approver=DEMO_CHECKER, approval_doc="穗科函（演示）")
        grant = _grant(ledger, application_id)
        if grant is not None and pay and grant["status"] == "approved":
            service.pay(grant["id"], actor=DEMO_CASHIER)
        granted += grant["amount_fen"] if grant is not None else 0
    return {"programs": len(programs), "applications": len(DEMO_APPLICATIONS), "granted_fen": granted}


def _status(ledger: Ledger, application_id: int) -> str:
    with ledger.engine.connect() as conn:
        return conn.execute(select(APPLICATIONS.c.status).where(APPLICATIONS.c.id == application_id)).scalar_one()


def _grant(ledger: Ledger, application_id: int):
    with ledger.engine.connect() as conn:
        return conn.execute(select(GRANTS).where(GRANTS.c.application_id == application_id)).mappings().first()
