"""Handlers of the contributions side, run inside `AidService` batches.

Campaigns, funds, contributions and allocations are commands of their own;
the funding of a household disbursement rides on `RecordDisbursement` (with
a `fund_id`) and its return on `CorrectDisbursement`, so the household's
event and the fund's are saved in the same transaction.

Every handler checks everything before it changes anything: a refusal is a
typed error naming the field, and nothing is recorded.
"""

from __future__ import annotations

from typing import Any, Callable
from uuid import UUID, uuid4

from eventsourcing.application import AggregateNotFoundError

from emergency.application import AidApplication
from emergency.areas import AreaRegistry
from emergency.batch import Batch, Handler, Scope
from emergency.clock import VIETNAM
from emergency.commands import Command
from emergency.domain import Campaign, Contribution, Fund, FundCharge, HouseholdCase, Incident
from emergency.domain.contribution import Channel, Donor, InKind
from emergency.domain.fund import CASH, AllocationDecision, Draw, Earmark, Receipt, amount_field, asset_key
from emergency.domain.household import Disbursement, DisbursementCorrection
from emergency.domain.payload import EventMeta
from emergency.errors import Conflict, InvalidInput, NotFound
from emergency.funding import commands
from emergency.funding.rules import FundingPolicy, FundingRules


def _nothing() -> None:
    """The follow-up of a disbursement that is not charged to a fund."""


class Funding:
    def __init__(self, app: AidApplication, rules: FundingPolicy, areas: AreaRegistry):
        self.app = app
        self.rules = rules
        self.areas = areas

    def handlers(self) -> dict[type[Command], Handler]:
        return {
            commands.LaunchCampaign: self._launch_campaign,
            commands.ExtendCampaign: self._extend_campaign,
            commands.OpenFund: self._open_fund,
            commands.RecordContribution: self._record_contribution,
            commands.AllocateFunds: self._allocate,
        }

    # ----- checks -----------------------------------------------------------

    def _check_committee_area(self, province: str | None, commune: str | None) -> None:
        """The committee's province and commune are on the official list."""
        if province is not None:
            self.areas.check_province(province, "province_code")
        if commune is not None:
            self.areas.check_commune(commune, province or "", "commune_code")

    def _fund_in_scope(self, batch: Batch, fund_id: UUID, scope: Scope, field: str, *,
                       gathering: bool = False) -> Fund:
        fund = batch.get(Fund, fund_id, field, gathering=gathering)
        scope.check_committee(fund.level, fund.province_code, fund.commune_code, field)
        return fund

    def _rules(self, campaign: Campaign) -> FundingRules:
        return self.rules.named(campaign.rule_version)

    def _earmark(self, batch: Batch, given: commands.Earmark, campaign: Campaign, field: str) -> Earmark:
        """The designation, checked against the areas, households and purposes known."""
        if given.kind in ("province", "commune"):
            self.areas.check_province(given.province_code or "", f"{field}.province_code")
        if given.kind == "commune":
            self.areas.check_commune(given.commune_code or "", given.province_code or "", f"{field}.commune_code")
        if given.kind == "purpose":
            self._rules(campaign).check_purpose(given.purpose or "", f"{field}.purpose")
        if given.kind != "household":
            return Earmark(kind=given.kind, province_code=given.province_code, commune_code=given.commune_code,
                           purpose=given.purpose)
        household = batch.get(HouseholdCase, given.household_id, f"{field}.household_id")
        if campaign.incident_id is not None and household.incident_id != campaign.incident_id:
            raise InvalidInput(f"household {household.id} is not in the incident of campaign {campaign.id}",
                               field=f"{field}.household_id", code="household_not_in_incident")
        return Earmark(kind="household", province_code=household.province_code, commune_code=household.commune_code,
                       household_id=str(household.id))

    @staticmethod
    def _check_reaches(fund: Fund, earmark: Earmark, field: str) -> None:
        if not fund.reaches(earmark):
            where = fund.commune_code or fund.province_code
            raise Conflict(f"money earmarked {earmark.key} cannot go to the {fund.level} fund {fund.id} ({where})",
                           field=field, code="earmark_mismatch")

    # ----- campaigns and funds ---------------------------------------------

    def _launch_campaign(self, batch: Batch, cmd: commands.LaunchCampaign, meta: EventMeta,
                         scope: Scope) -> dict[str, Any]:
        self._check_committee_area(cmd.province_code, cmd.commune_code)
        scope.check_committee(cmd.level, cmd.province_code, cmd.commune_code, "level")
        if cmd.incident_id is not None:
            batch.get(Incident, cmd.incident_id, "incident_id")
        rules = self.rules.on(cmd.launched_at.astimezone(VIETNAM).date())
        receiving_until = cmd.receiving_until or cmd.launched_at + rules.receiving_max
        if receiving_until > cmd.launched_at + rules.receiving_max:
            raise InvalidInput(f"a campaign receives for at most {rules.receiving_max.days} days ({rules.source})",
                               field="receiving_until", code="window_too_long")
        latest = receiving_until + rules.distribution_max_after
        distribution_until = cmd.distribution_until or latest
        if distribution_until < receiving_until:
            raise InvalidInput("distribution cannot end before receiving ends", field="distribution_until",
                               code="distribution_before_receiving")
        if distribution_until > latest and cmd.distribution_commitment is None:
            raise InvalidInput(f"distribution ends at most {rules.distribution_max_after.days} days after receiving "
                               "unless committed otherwise to donors: state it in distribution_commitment",
                               field="distribution_until", code="window_too_long")
        campaign = Campaign(
            id=cmd.campaign_id or uuid4(), title=cmd.title, mobiliser_type=cmd.mobiliser_type,
            mobiliser_name=cmd.mobiliser_name, level=cmd.level, province_code=cmd.province_code,
            commune_code=cmd.commune_code, incident_id=cmd.incident_id, launched_at=cmd.launched_at,
            receiving_until=receiving_until, distribution_until=distribution_until,
            distribution_commitment=cmd.distribution_commitment, rule_version=rules.id, meta=meta)
        batch.create(campaign, "campaign_id")
        return campaign.summary()

    def _extend_campaign(self, batch: Batch, cmd: commands.ExtendCampaign, meta: EventMeta,
                         scope: Scope) -> dict[str, Any]:
        campaign = batch.get(Campaign, cmd.campaign_id, "campaign_id")
        scope.check_committee(campaign.level, campaign.province_code, campaign.commune_code, "campaign_id")
        campaign.extend(cmd.receiving_until, cmd.distribution_until, cmd.reason, cmd.decided_by, meta)
        return campaign.summary()

    def _open_fund(self, batch: Batch, cmd: commands.OpenFund, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        campaign = batch.get(Campaign, cmd.campaign_id, "campaign_id")
        self._check_committee_area(cmd.province_code, cmd.commune_code)
        scope.check_committee(cmd.level, cmd.province_code, cmd.commune_code, "level")
        fund_id = Fund.id_for(campaign.id, cmd.level, cmd.province_code, cmd.commune_code)
        if batch.exists(fund_id):
            raise Conflict(f"campaign {campaign.id} already has a fund for this committee ({fund_id})",
                           field="level", code="fund_exists")
        fund = Fund(id=fund_id, campaign_id=campaign.id, level=cmd.level, province_code=cmd.province_code,
                    commune_code=cmd.commune_code, committee_name=cmd.committee_name,
                    bank_accounts=list(cmd.bank_accounts), meta=meta)
        batch.add(fund)
        return fund.summary()

    # ----- money in and between funds --------------------------------------

    def _record_contribution(self, batch: Batch, cmd: commands.RecordContribution, meta: EventMeta,
                             scope: Scope) -> dict[str, Any]:
        fund = self._fund_in_scope(batch, cmd.fund_id, scope, "fund_id", gathering=True)
        campaign = batch.get(Campaign, fund.campaign_id, "fund_id")
        campaign.check_receiving(cmd.received_at)
        if cmd.channel == "bank":
            if cmd.account not in fund.bank_accounts:
                raise InvalidInput(f"account {cmd.account} is not an account of fund {fund.id}", field="account",
                                   code="unknown_account")
            contribution_id = Contribution.bank_id(cmd.account or "", cmd.reference or "")
            source, field = f"bank transfer {cmd.reference} on account {cmd.account}", "reference"
        else:
            contribution_id = Contribution.receipt_id(fund.id, cmd.receipt_number or "")
            source, field = f"receipt {cmd.receipt_number} of fund {fund.id}", "receipt_number"
        if batch.exists(contribution_id, trust_new=True):
            raise Conflict(f"{source} is already recorded", field=field, code="already_recorded")
        earmark = self._earmark(batch, cmd.earmark, campaign, "earmark")
        self._check_reaches(fund, earmark, "earmark")
        asset = asset_key(cmd.item, cmd.unit)
        draw = Draw(bucket=earmark.key, asset=asset, quantity=cmd.quantity or cmd.amount_vnd or 0,
                    value_vnd=cmd.value_vnd)
        goods = InKind(item=cmd.item or "", unit=cmd.unit or "", quantity=cmd.quantity or 0) \
            if cmd.form == "in_kind" else None
        batch.add(Contribution(
            id=contribution_id, fund_id=fund.id, campaign_id=campaign.id,
            donor=Donor(name=cmd.donor_name, type=cmd.donor_type, anonymous=cmd.anonymous),
            channel=Channel(channel=cmd.channel, account=cmd.account, reference=cmd.reference,
                            receipt_number=cmd.receipt_number),
            received_at=cmd.received_at, currency=cmd.currency,
            original_amount=cmd.original_amount if cmd.form == "cash" and cmd.currency != "VND" else None,
            value_vnd=cmd.value_vnd, in_kind=goods, earmark=earmark, bucket=earmark.key, asset=asset,
            description=cmd.description, meta=meta))
        # The batch's contributions to one fund are one fund event (a statement's
        # 1,000 lines: one, not 1,000); the fund sees them before any other use.
        batch.gather(fund, ("receipts", meta), Receipt(contribution_id=contribution_id, draw=draw),
                     lambda received: fund.receive_gathered(received=received, meta=meta))
        return {"contribution_id": contribution_id, "fund_id": fund.id, "bucket": earmark.key, "asset": asset,
                "value_vnd": cmd.value_vnd}

    def _allocate(self, batch: Batch, cmd: commands.AllocateFunds, meta: EventMeta, scope: Scope) -> dict[str, Any]:
        source = self._fund_in_scope(batch, cmd.from_fund_id, scope, "from_fund_id")
        target = batch.get(Fund, cmd.to_fund_id, "to_fund_id")
        campaign = batch.get(Campaign, source.campaign_id, "from_fund_id")
        earmark = self._earmark(batch, cmd.earmark, campaign, "earmark")
        self._check_reaches(target, earmark, "earmark")
        draw = source.take(earmark.key, asset_key(cmd.item, cmd.unit), cmd.quantity or cmd.amount_vnd or 0)
        allocation_id = uuid4()
        decision = AllocationDecision(allocated_at=cmd.allocated_at, decided_by=cmd.decided_by, note=cmd.note)
        source.send(allocation_id=allocation_id, to_fund_id=target.id, draw=draw, decision=decision, meta=meta)
        target.accept(allocation_id=allocation_id, from_fund_id=source.id, draw=draw, decision=decision, meta=meta)
        return {"allocation_id": allocation_id, "from_fund_id": source.id, "to_fund_id": target.id,
                **draw.model_dump()}

    # ----- household disbursements paid from a fund -------------------------

    def prepare_charge(self, batch: Batch, household: HouseholdCase, disbursement: Disbursement, meta: EventMeta,
                       scope: Scope) -> Callable[[], None]:
        """Check that the fund named by a disbursement can pay it; return the
        step that charges it, to run once the household has recorded it."""
        if disbursement.fund_id is None:
            return _nothing
        fund = self._fund_in_scope(batch, disbursement.fund_id, scope, "fund_id")
        campaign = batch.get(Campaign, fund.campaign_id, "fund_id")
        if campaign.incident_id is not None and campaign.incident_id != household.incident_id:
            raise InvalidInput(f"fund {fund.id} raises money for another incident", field="fund_id",
                               code="fund_not_for_incident")
        if disbursement.funding_source != campaign.mobiliser_type:
            raise InvalidInput(f"fund {fund.id} is mobilised by a {campaign.mobiliser_type}", field="funding_source",
                               code="funding_source_mismatch")
        if disbursement.form == "in_kind" and disbursement.item is None:
            raise InvalidInput("goods from a fund name the item drawn from its stock", field="item",
                               code="item_required")
        disbursement_id = UUID(disbursement.disbursement_id)
        charge_id = FundCharge.id_for(disbursement_id)
        if batch.exists(charge_id):
            raise Conflict(f"disbursement {disbursement_id} is already charged to a fund",
                           field="disbursement_id", code="duplicate_disbursement")
        asset = asset_key(disbursement.item, disbursement.unit)
        quantity = (disbursement.amount_vnd if asset == CASH else disbursement.quantity) or 0
        draws = self._draws(fund, self._rules(campaign), household, disbursement.support_type, asset, quantity)

        def charge() -> None:
            batch.add(FundCharge(id=charge_id, fund_id=fund.id, household_id=household.id,
                                 disbursement_id=disbursement_id, support_type=disbursement.support_type,
                                 draws=draws, meta=meta))
            fund.charge(disbursement_id=disbursement_id, household_id=household.id,
                        support_type=disbursement.support_type, delivered_at=disbursement.delivered_at,
                        draws=draws, meta=meta)
        return charge

    def prepare_correction(self, batch: Batch, household: HouseholdCase, correction: DisbursementCorrection,
                           meta: EventMeta) -> Callable[[], None]:
        """A voided disbursement gives back what it drew; a restated one gives
        back the difference, or draws more (checked like a new charge)."""
        found = household.disbursements.get(correction.disbursement_id)
        if found is None or found.get("fund_id") is None or found["voided"]:
            return _nothing  # the household refuses it, or no fund is involved
        disbursement_id = UUID(correction.disbursement_id)
        charge = batch.get(FundCharge, FundCharge.id_for(disbursement_id), "disbursement_id")
        fund = batch.get(Fund, charge.fund_id, "fund_id")
        restated = correction.amount_vnd if found["form"] == "cash" else correction.quantity
        if not correction.void and restated is None:
            return _nothing
        change = (0 if correction.void else restated or 0) - charge.quantity
        if change < 0:
            back = charge.plan_return(-change)

            def give_back() -> None:
                charge.returned(draws=back, reason=correction.reason, meta=meta)
                fund.give_back(disbursement_id=disbursement_id, household_id=household.id, draws=back,
                               reason=correction.reason, meta=meta)
            return give_back
        if change == 0:
            return _nothing
        campaign = batch.get(Campaign, fund.campaign_id, "fund_id")
        draws = self._draws(fund, self._rules(campaign), household, charge.support_type,
                            asset_key(found.get("item"), found.get("unit")), change)

        def top_up() -> None:
            charge.topped_up(draws=draws, meta=meta)
            fund.charge(disbursement_id=disbursement_id, household_id=household.id,
                        support_type=charge.support_type, delivered_at=found["delivered_at"], draws=draws,
                        meta=meta)
        return top_up

    @staticmethod
    def _eligible(rules: FundingRules, household: HouseholdCase, support_type: str) -> list[str]:
        """Buckets that may pay a household's support, the most specific first:
        its own earmark, its commune's, its province's, the support's purposes,
        then undesignated money if Decree 93 lets it pay for this support."""
        province, commune = household.province_code, household.commune_code
        buckets = [Earmark(kind="household", province_code=province, commune_code=commune,
                           household_id=str(household.id)).key,
                   Earmark(kind="commune", province_code=province, commune_code=commune).key,
                   Earmark(kind="province", province_code=province).key]
        buckets += [Earmark(kind="purpose", purpose=purpose).key for purpose in rules.purposes_of(support_type)]
        return buckets + (["none"] if rules.unearmarked_may_fund(support_type) else [])

    def _draws(self, fund: Fund, rules: FundingRules, household: HouseholdCase, support_type: str, asset: str,
               quantity: int) -> list[Draw]:
        draws, missing = fund.plan(self._eligible(rules, household, support_type), asset, quantity)
        if not missing:
            return draws
        usable, held, field = quantity - missing, fund.total(asset), amount_field(asset)
        undesignated, _ = fund.holding("none", asset)
        if not rules.unearmarked_may_fund(support_type) and usable + undesignated >= quantity:
            raise Conflict(f"money given without designation may not pay for {support_type} ({rules.source}); "
                           f"fund {fund.id} holds only {usable:,} designated for it", field=field,
                           code="purpose_not_allowed")
        if held >= quantity:
            raise Conflict(f"fund {fund.id} holds {held:,} but only {usable:,} may pay {support_type} to household "
                           f"{household.id}: the rest is earmarked for other places, households or purposes",
                           field=field, code="earmarked_elsewhere")
        raise Conflict(f"fund {fund.id} holds {held:,}, less than the {quantity:,} needed", field=field,
                       code="insufficient_funds")

    # ----- queries --------------------------------------------------------------

    def fund(self, fund_id: UUID, version: int | None = None) -> Fund:
        """A fund as recorded now, or as it was at `version`."""
        try:
            found = self.app.repository.get(fund_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"no fund with id {fund_id}", field="fund_id") from None
        if not isinstance(found, Fund):
            raise NotFound(f"{fund_id} is not a fund", field="fund_id")
        return found
