"""``/v1/receivables``: a party's open items (OPOS), their aging and its figures (DSO by count-back, average days to
pay, collection rate) — the same rows and figures for the payer and the payee (docs/receivables.md).

``party`` names whose list it is: a party-bound principal (the party, its staff, its read tokens) reads only its
own (another party's is refused, 403: the list spans agreements with others), the operator and auditors any.
``as_of`` defaults to the gateway's banking
day. The JSON list is paged (``limit``, ``offset``; ``total`` gives the whole list's length); the CSV export is the
whole list.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response

from gateway.api.deps import ADDRESS_PATTERN, PageDep, ReadDep, ReaderDep, SessionDep, StateDep, address_param
from gateway.api.schemas import (
    AgingBucketOut,
    AgingOut,
    CountBackWindowOut,
    FiguresOut,
    Money,
    OpenItemsOut,
    checksum,
)
from gateway.api.views import json_response, money_data
from gateway.receivables.figures import figures
from gateway.receivables.opos import OposItem, aging, opos, opos_csv
from settle.http import errors

router = APIRouter(prefix="/v1/receivables", tags=["receivables"], responses=errors(401, 403, 422))

PartyQuery = Annotated[str, Query(pattern=ADDRESS_PATTERN, description="The party (chain address): its items as payer and as payee.")]
AgreementQuery = Annotated[str | None, Query(pattern=ADDRESS_PATTERN, description="Only this agreement.")]
AsOfQuery = Annotated[
    date | None,
    Query(
        ge=date(1970, 1, 1),
        le=date(9998, 12, 31),
        description="The day to age against (default: the gateway's banking day); items billed later are left out.",
    ),
]
MonthsQuery = Annotated[int, Query(ge=1, le=120, description="Months to count back (the month of as_of up to it, then whole months).")]


def _who(party: str, principal: ReaderDep) -> str:
    who = address_param(party, "party")
    if not principal.sees_all and principal.party != who:
        raise HTTPException(403, f"{principal.subject} reads only its own open items")
    return who


def _day(state: StateDep, as_of: date | None) -> date:
    return as_of if as_of is not None else state.booking_rules().today


def _address(value: str | None) -> str | None:
    return checksum(value) if value else value


def item_data(item: OposItem) -> dict[str, Any]:
    """An open item as the JSON object of :class:`~gateway.api.schemas.OpenItemOut`."""
    digits, currency = item.digits, item.currency
    return {
        "kind": item.kind,
        "item_id": item.item_id,
        "role": item.role,
        "chain_id": item.chain_id,
        "agreement": _address(item.agreement),
        "period": item.period,
        "payer": _address(item.payer),
        "payee": _address(item.payee),
        "invoice_number": item.invoice_number,
        "billed_on": item.billed_on,
        "due_date": item.due_date,
        "amount": money_data(item.amount, digits, currency),
        "open": money_data(item.open, digits, currency),
        "disputed": money_data(item.disputed, digits, currency),
        "expected": money_data(item.expected, digits, currency),
        "days_overdue": item.days_overdue,
        "bucket": item.bucket,
        "status": item.status,
        "dunning_level": item.dunning_level,
        "dunning_fee": money_data(item.dunning_fee, digits, currency),
        "hold_until": item.hold_until,
    }


@router.get(
    "/open-items",
    summary="A party's open items: settlements, fee items, credit balances (oldest due first)",
    response_model=OpenItemsOut,
)
async def open_items(
    read: ReadDep,
    page: PageDep,
    party: PartyQuery,
    agreement: AgreementQuery = None,
    as_of: AsOfQuery = None,
) -> Response:
    who = _who(party, read.principal)
    listed = opos(read.db, who, as_of=_day(read.state, as_of), agreement=address_param(agreement, "agreement") if agreement else None)
    return json_response(
        {
            "party": checksum(listed.party),
            "as_of": listed.as_of,
            "agreement": _address(listed.agreement),
            "total": len(listed.items),
            "items": [item_data(i) for i in listed.items[page.offset : page.offset + page.limit]],
        }
    )


@router.get(
    "/open-items.csv",
    summary="A party's whole open-items list as CSV (exact decimal amounts)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "The open items, one header row."}},
)
def open_items_csv(
    session: SessionDep,
    state: StateDep,
    principal: ReaderDep,
    party: PartyQuery,
    agreement: AgreementQuery = None,
    as_of: AsOfQuery = None,
) -> Response:
    who = _who(party, principal)
    day = _day(state, as_of)
    listed = opos(session, who, as_of=day, agreement=address_param(agreement, "agreement") if agreement else None)
    return Response(
        content=opos_csv(listed.items),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="open-items-{who}-{day.isoformat()}.csv"'},
    )


@router.get("/aging", summary="Aging of a party's open items by days overdue, per currency")
def aging_report(
    session: SessionDep,
    state: StateDep,
    principal: ReaderDep,
    party: PartyQuery,
    agreement: AgreementQuery = None,
    as_of: AsOfQuery = None,
) -> list[AgingOut]:
    who = _who(party, principal)
    day = _day(state, as_of)
    listed = opos(session, who, as_of=day, agreement=address_param(agreement, "agreement") if agreement else None)
    result = []
    for report in aging(listed.items):

        def money(value: int, digits: int = report.digits, currency: str = report.currency) -> Money:
            return Money.of(value, digits, currency)

        result.append(
            AgingOut(
                party=who,
                as_of=day,
                currency=report.currency,
                buckets=[AgingBucketOut(name=b.name, count=b.count, amount=money(b.amount)) for b in report.buckets],
                total=money(report.total),
                overdue=money(report.overdue),
                disputed=money(report.disputed),
                credit=money(report.credit),
                dunning_fees=money(report.fees),
            )
        )
    return result


@router.get("/dso", summary="DSO by the count-back method, average days to pay and collection rate, per currency")
def dso(
    session: SessionDep,
    state: StateDep,
    principal: ReaderDep,
    party: PartyQuery,
    agreement: AgreementQuery = None,
    as_of: AsOfQuery = None,
    months: MonthsQuery = 3,
) -> list[FiguresOut]:
    who = _who(party, principal)
    day = _day(state, as_of)
    found = figures(session, who, as_of=day, months=months, agreement=address_param(agreement, "agreement") if agreement else None)
    result = []
    for f in found:

        def money(value: int, digits: int = f.digits, currency: str = f.currency) -> Money:
            return Money.of(value, digits, currency)

        result.append(
            FiguresOut(
                party=who,
                as_of=day,
                currency=f.currency,
                months=f.months,
                window_start=f.window_start,
                receivables=money(f.receivables),
                dso_days=str(f.dso_days),
                dso_capped=f.dso_capped,
                count_back=[
                    CountBackWindowOut(start=w.start, end=w.end, days=w.days, sales=money(w.sales), counted=str(w.counted))
                    for w in f.count_back
                ],
                billed=money(f.billed),
                collected=money(f.collected),
                collection_rate=str(f.collection_rate) if f.collection_rate is not None else None,
                paid_items=f.paid_items,
                avg_days_to_pay=str(f.avg_days_to_pay) if f.avg_days_to_pay is not None else None,
                avg_days_late=str(f.avg_days_late) if f.avg_days_late is not None else None,
            )
        )
    return result
