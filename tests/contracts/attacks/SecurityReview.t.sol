// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {console} from "forge-std/console.sol";

import {BaseTest} from "../utils/BaseTest.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {IAgreementFactory} from "../../../contracts/interfaces/IAgreementFactory.sol";
import {IBillingAgreement} from "../../../contracts/interfaces/IBillingAgreement.sol";
import {ITermsErrors} from "../../../contracts/interfaces/ITermsErrors.sol";
import {ForwardingPayee} from "../../../contracts/mocks/ForwardingPayee.sol";
import {MockERC1271Wallet} from "../../../contracts/mocks/MockERC1271Wallet.sol";
import {MockToken} from "../../../contracts/mocks/MockToken.sol";
import {
    AgreementState,
    IntervalKind,
    Meter,
    MeterUsage,
    PaymentStatus,
    ServiceStatus,
    Settlement,
    Terms
} from "../../../contracts/types/BillingTypes.sol";

/// @notice Measures the gas of one call in a fresh call frame, so the caller's memory (which grows over a long test)
///         does not enter the figure.
contract GasProbe {
    function measure(address target, bytes calldata data) external view returns (uint256 used) {
        uint256 before = gasleft();
        (bool ok,) = target.staticcall(data);
        used = before - gasleft();
        require(ok, "call failed");
    }
}

/// @notice An attacker's contract: relays a signed usage report and settles the period in the same transaction, so
///         the oracle has no block in between to correct the usage again (issue 10, item 1).
contract ReplayAndSettle {
    /// @notice Replay, then settle; a refused replay reverts the whole transaction.
    function run(
        BillingAgreement a,
        uint32 period,
        bytes32 id,
        bytes32 root,
        uint16 epoch,
        uint40 since,
        MeterUsage[] calldata u,
        bytes calldata sig
    ) external returns (uint256) {
        a.reportUsageWithSignature(period, id, root, epoch, since, u, sig);
        return a.settle(period);
    }

    /// @notice Replay (ignoring a refusal), then settle.
    function tryRun(
        BillingAgreement a,
        uint32 period,
        bytes32 id,
        bytes32 root,
        uint16 epoch,
        uint40 since,
        MeterUsage[] calldata u,
        bytes calldata sig
    ) external returns (uint256) {
        try a.reportUsageWithSignature(period, id, root, epoch, since, u, sig) {} catch {}
        return a.settle(period);
    }
}

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: tests compare against block time on purpose.
// forge-lint: disable-start(block-timestamp)
/// @notice The attacks of the contracts part of issue 10 (a review done as an attacker would), each reproduced
///         against the fixed contracts and shown to fail. One section per item of the issue; test names say the
///         attack and its outcome.
contract SecurityReviewAttacksTest is BaseTest {
    bytes32 internal constant ID = keccak256("oracle report 17");
    bytes32 internal constant ROOT = keccak256("records of report 17");

    // ------------------------------------------------------------------------------------------------------------
    // Item 1: a signed usage report replayed to undo a correction; old signatures after a new oracle grant
    // ------------------------------------------------------------------------------------------------------------

    /// @dev An active fiat agreement with 1,500 units reported for period 0 by a relayed signed report (140,000 due
    ///      at settlement), then corrected to 1,000 (100,000) inside the grace window. Returns the report and its
    ///      signature, public in the relayer's call data.
    function _reportedThenCorrected() internal returns (BillingAgreement a, MeterUsage[] memory u, bytes memory sig) {
        a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
        u = _usage(0, 1500);
        sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        uint40 since = factory.oracleActiveFrom(oracle);
        vm.prank(stranger);
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        assertEq(a.usage(0, 0), 1500);
        (, uint40 end) = a.periodBounds(0);
        vm.warp(end + 1 hours);
        vm.prank(oracle);
        a.correctUsage(0, 0, 1000, keccak256("without duplicates"), "duplicate batch");
        assertEq(a.usage(0, 0), 1000);
    }

    function test_Attack_ReplayedSignedReportAfterCorrection_Refused() public {
        (BillingAgreement a, MeterUsage[] memory u, bytes memory sig) = _reportedThenCorrected();
        uint40 since = factory.oracleActiveFrom(oracle);
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, uint16(0), uint16(1))
        );
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        assertEq(a.usage(0, 0), 1000);
    }

    function test_Attack_SignedReportInFlightDuringCorrection_Refused() public {
        // Signed before the correction but not yet relayed: the correction wins over it too.
        BillingAgreement a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
        _report(a, 0, 0, 800);
        MeterUsage[] memory u = _usage(0, 1500);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        vm.prank(oracle);
        a.correctUsage(0, 0, 700, ROOT, "voided records");
        uint40 since = factory.oracleActiveFrom(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, uint16(0), uint16(1))
        );
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        assertEq(a.usage(0, 0), 700);
    }

    function test_Attack_ReplayThenSettleInOneTransaction_CannotRaiseSettledAmount() public {
        (BillingAgreement a, MeterUsage[] memory u, bytes memory sig) = _reportedThenCorrected();
        uint40 since = factory.oracleActiveFrom(oracle);
        _warpToSettle(a, 0);
        ReplayAndSettle attacker = new ReplayAndSettle();
        // Replay and settle in one transaction: the replay is refused, so the transaction settles nothing.
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, uint16(0), uint16(1))
        );
        attacker.run(a, 0, ID, ROOT, 0, since, u, sig);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.None));
        // Ignoring the refusal, the settlement is the corrected amount: 1,000 units, not 1,500.
        assertEq(attacker.tryRun(a, 0, ID, ROOT, 0, since, u, sig), 100_000);
        assertEq(a.settlement(0).amount, 100_000);
    }

    function test_Attack_OldSignatureAfterRevokeAndRegrant_Refused() public {
        BillingAgreement a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
        uint40 since = factory.oracleActiveFrom(oracle);
        MeterUsage[] memory u = _usage(0, 9000);
        bytes memory sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        // The key is suspected leaked: revoked, then (checked) granted again, even in the same second.
        vm.startPrank(admin);
        factory.revokeRole(ORACLE_ROLE, oracle);
        factory.grantRole(ORACLE_ROLE, oracle);
        vm.stopPrank();
        uint40 regranted = factory.oracleActiveFrom(oracle);
        assertGt(regranted, since);
        vm.warp(regranted);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_StaleSignerGrant.selector, oracle, since, regranted
            )
        );
        a.reportUsageWithSignature(0, ID, ROOT, 0, since, u, sig);
        assertEq(a.usage(0, 0), 0);
        // Reports signed under the new grant count.
        sig = _signReport(a, oracleKey, 0, ID, ROOT, u);
        a.reportUsageWithSignature(0, ID, ROOT, 0, regranted, u, sig);
        assertEq(a.usage(0, 0), 9000);
    }

    function test_Attack_DirectReportBuiltBeforeCorrection_Refused() public {
        // The oracle's own transaction, built on the old figures and mined after its correction, is refused too.
        BillingAgreement a = _createActive(_fiatTerms());
        vm.warp(START + 1 days);
        _report(a, 0, 0, 1500);
        vm.prank(oracle);
        a.correctUsage(0, 0, 1000, ROOT, "duplicates");
        vm.prank(oracle);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_StaleReport.selector, uint16(0), uint16(1))
        );
        a.reportUsage(0, ID, ROOT, 0, _usage(0, 1600));
        assertEq(a.usage(0, 0), 1000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 2: a pending amendment accepted after a notice (or termination by consent) extends the end
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Active at period 0; the payee proposes an amendment that ends at period 36 (and accepts it by
    ///      proposing); the payer signs its acceptance, which the payee holds.
    function _pendingLongAmendment() internal returns (BillingAgreement a, uint256 deadline, bytes memory sig) {
        a = _createActive(_fiatTerms());
        vm.warp(START + 10 days);
        Terms memory t = _fiatTerms();
        (uint40 end36,) = a.periodBounds(36);
        t.end = end36;
        vm.prank(payee);
        assertEq(a.proposeAmendment(t), 2);
        deadline = block.timestamp + 30 days;
        sig = _signAccept(a, payerKey, 2, _hash(t), deadline);
    }

    function test_Attack_AmendmentAcceptedAfterNotice_CannotExtendEnd() public {
        (BillingAgreement a, uint256 deadline, bytes memory sig) = _pendingLongAmendment();
        (, bytes32 h,) = a.termsAt(2);
        vm.prank(payer);
        a.giveNotice(); // ends after period 1
        assertEq(a.status().endPeriod, 2);
        // The payee relays the payer's earlier signature: the amendment takes effect, the end does not move.
        vm.prank(payee);
        a.acceptWithSignature(payer, 2, h, deadline, sig);
        assertEq(a.status().version, 2);
        assertEq(a.status().endPeriod, 2);
        vm.warp(START + 59 days); // 2025-03-01, the start of period 2
        assertEq(uint8(a.state()), uint8(AgreementState.Terminated));
    }

    function test_Attack_AmendmentAcceptedAfterConsent_CannotExtendEnd() public {
        (BillingAgreement a,,) = _pendingLongAmendment();
        (, bytes32 h,) = a.termsAt(2);
        vm.prank(payer);
        a.terminateByConsent(2);
        vm.prank(payee);
        a.terminateByConsent(2);
        assertEq(a.status().endPeriod, 2);
        vm.prank(payer);
        a.accept(2, h);
        assertEq(a.status().version, 2);
        assertEq(a.status().endPeriod, 2);
    }

    function test_AmendmentAfterNoticeMayBringEndForward() public {
        BillingAgreement a = _createActive(_fiatTerms());
        vm.warp(START + 10 days);
        vm.prank(payer);
        a.giveNotice(); // end period 2
        Terms memory t = _fiatTerms();
        (uint40 end1,) = a.periodBounds(1);
        t.end = end1;
        _amend(a, t);
        assertEq(a.status().endPeriod, 1);
        // And one with no end keeps the notice's end.
        t.end = 0;
        _amend(a, t);
        assertEq(a.status().endPeriod, 1);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 3: a payee that forwards what it receives makes every pull count as nothing
    // ------------------------------------------------------------------------------------------------------------

    function test_Attack_ForwardingPayeeCannotDrainPayerAllowance() public {
        MockToken hookToken = new MockToken(2);
        vm.prank(admin);
        factory.setTokenAllowed(address(hookToken), true);
        address sink = makeAddr("sink");
        ForwardingPayee forwarder = new ForwardingPayee(sink);
        Terms memory t = _fiatTerms();
        t.token = address(hookToken);
        vm.prank(operator);
        BillingAgreement a = BillingAgreement(factory.createAgreement(payer, address(forwarder), t, bytes32(0)));
        bytes32 h = _hash(t);
        vm.prank(payer);
        a.accept(1, h);
        vm.prank(address(forwarder));
        a.accept(1, h);
        hookToken.mint(payer, 1_000_000);
        uint256 allowance = 1_000_000;
        vm.prank(payer);
        hookToken.approve(address(a), allowance);
        hookToken.setMode(MockToken.Mode.ReceiveHook);

        vm.warp(START + 1 days);
        _report(a, 0, 0, 1500); // 140,000
        _warpToSettle(a, 0);
        a.settle(0);
        // The payee's balance did not grow (it passed the tokens on), yet the payment is recorded once, in full.
        assertEq(hookToken.balanceOf(address(forwarder)), 0);
        assertEq(hookToken.balanceOf(sink), 140_000);
        Settlement memory s = a.settlement(0);
        assertEq(s.paid, 140_000);
        assertEq(uint8(s.status), uint8(PaymentStatus.Paid));
        assertEq(a.outstanding(), 0);
        // No second pull: the payer lost the amount once and its allowance only by it.
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_InvalidPaymentStatus.selector, uint32(0), PaymentStatus.Paid
            )
        );
        a.collect(0);
        assertEq(hookToken.balanceOf(payer), 1_000_000 - 140_000);
        assertEq(hookToken.allowance(payer, address(a)), allowance - 140_000);
    }

    function test_Attack_ForwardingPayeeCollectAfterFailedPull_RecordsOnce() public {
        // The same with `collect` after a failed pull at settlement.
        MockToken hookToken = new MockToken(2);
        vm.prank(admin);
        factory.setTokenAllowed(address(hookToken), true);
        ForwardingPayee forwarder = new ForwardingPayee(makeAddr("sink"));
        Terms memory t = _fiatTerms();
        t.token = address(hookToken);
        vm.prank(operator);
        BillingAgreement a = BillingAgreement(factory.createAgreement(payer, address(forwarder), t, bytes32(0)));
        bytes32 h = _hash(t);
        vm.prank(payer);
        a.accept(1, h);
        vm.prank(address(forwarder));
        a.accept(1, h);
        hookToken.mint(payer, 1_000_000);
        hookToken.setMode(MockToken.Mode.ReceiveHook);
        vm.warp(START + 1 days);
        _report(a, 0, 0, 1500);
        _warpToSettle(a, 0);
        a.settle(0); // no allowance yet: Due
        vm.prank(payer);
        hookToken.approve(address(a), 1_000_000);
        assertEq(a.collect(0), 140_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
        assertEq(hookToken.balanceOf(payer), 1_000_000 - 140_000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 4: a signature for a rejected proposal accepts identical terms proposed again under the same number
    // ------------------------------------------------------------------------------------------------------------

    function test_Attack_RejectedVersionSignatureReusedForReproposal_Refused() public {
        BillingAgreement a = _createActive(_fiatTerms());
        vm.warp(START + 10 days);
        Terms memory t = _fiatTerms();
        t.meters[0].tiers[0].unitPrice = 20_000; // the payee's price increase
        bytes32 h = _hash(t);
        vm.prank(payee);
        assertEq(a.proposeAmendment(t), 2);
        // The payer signs its acceptance of v2, then thinks again and rejects the proposal.
        uint256 deadline = block.timestamp + 30 days;
        bytes memory sig = _signAccept(a, payerKey, 2, h, deadline);
        vm.prank(payer);
        a.rejectAmendment();
        // The payee proposes the identical terms again: they get a new number, 3.
        vm.prank(payee);
        assertEq(a.proposeAmendment(t), 3);
        // The payer's v2 signature accepts neither v2 (no longer pending) nor v3 (signed for another number).
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(2)));
        a.acceptWithSignature(payer, 2, h, deadline, sig);
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, payer));
        a.acceptWithSignature(payer, 3, h, deadline, sig);
        (, uint16 version) = a.terms();
        assertEq(version, 1);
        assertFalse(a.hasAccepted(payer, 3));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 5: one acceptance signature valid for two contract wallets that check the same key
    // ------------------------------------------------------------------------------------------------------------

    function test_Attack_SignatureForOneWalletAcceptsForOtherOnSameKey_Refused() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("owner of both wallets");
        MockERC1271Wallet buyer = new MockERC1271Wallet(owner);
        MockERC1271Wallet seller = new MockERC1271Wallet(owner);
        vm.prank(operator);
        BillingAgreement a =
            BillingAgreement(factory.createAgreement(address(buyer), address(seller), _fiatTerms(), bytes32(0)));
        bytes32 h = _hash(_fiatTerms());
        uint256 deadline = block.timestamp + 1 days;
        bytes memory buyerSig = _signAcceptFor(a, ownerKey, address(buyer), 1, h, deadline);
        // Relayed for the seller, the buyer's signature is refused: the party and its role are signed.
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, address(seller))
        );
        a.acceptWithSignature(address(seller), 1, h, deadline, buyerSig);
        vm.prank(stranger);
        a.acceptWithSignature(address(buyer), 1, h, deadline, buyerSig);
        assertTrue(a.hasAccepted(address(buyer), 1));
        assertFalse(a.hasAccepted(address(seller), 1));
        assertEq(uint8(a.state()), uint8(AgreementState.Proposed));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 6: a dispute as a permanent one-sided lock; views whose gas grows with the history
    // ------------------------------------------------------------------------------------------------------------

    /// @dev A token agreement with 140,000 settled on period 0 and not collected (no allowance).
    function _tokenSettlement() internal returns (BillingAgreement a, MockToken mock) {
        (a, mock) = _mockTokenAgreement();
        vm.prank(payer);
        mock.approve(address(a), 0);
        vm.warp(START + 1 days);
        _report(a, 0, 0, 1500);
        _warpToSettle(a, 0);
        a.settle(0);
    }

    function test_Attack_DisputeAsPermanentLock_EndsByArbiterDecision() public {
        (BillingAgreement a, MockToken mock) = _tokenSettlement();
        // The payer disputes everything, keeps its allowance at zero and never consents.
        vm.prank(payer);
        a.dispute(0, 140_000, keccak256("we never used this"));
        uint40 closesAt = a.settlement(0).settledAt + DISPUTE_WINDOW;
        // Not before the window closes ...
        vm.warp(closesAt - 1);
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_DisputeWindowOpen.selector, uint32(0), closesAt)
        );
        a.decideDispute(0, 140_000);
        vm.warp(closesAt);
        // ... not outside the range (here 0 to 140,000: all disputed, nothing paid) ...
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(
                IBillingAgreement.BillingAgreement_DecisionOutOfRange.selector,
                uint32(0),
                uint96(140_001),
                uint96(0),
                uint96(140_000)
            )
        );
        a.decideDispute(0, 140_001);
        // ... not by a party ...
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotArbiter.selector, payee));
        a.decideDispute(0, 140_000);
        // ... but the operator (the terms name no arbiter) ends it.
        vm.prank(operator);
        a.decideDispute(0, 130_000);
        Settlement memory s = a.settlement(0);
        assertEq(uint8(s.status), uint8(PaymentStatus.Due));
        assertEq(s.amount, 130_000);
        // The settlement is open to collection and dunning again.
        vm.prank(payer);
        mock.approve(address(a), type(uint256).max);
        assertEq(a.collect(0), 130_000);
        assertEq(uint8(a.settlement(0).status), uint8(PaymentStatus.Paid));
    }

    function test_Attack_PartialDispute_UndisputedRestCollectable() public {
        (BillingAgreement a, MockToken mock) = _tokenSettlement();
        vm.prank(payer);
        a.dispute(0, 40_000, keccak256("40,000 double counted"));
        vm.prank(payer);
        mock.approve(address(a), type(uint256).max);
        assertEq(a.collect(0), 100_000);
        assertEq(mock.balanceOf(payee), 100_000);
        Settlement memory s = a.settlement(0);
        assertEq(uint8(s.status), uint8(PaymentStatus.Disputed));
        assertEq(s.paid, 100_000);
        assertEq(a.outstanding(), 40_000);
    }

    function test_Attack_NamedArbiterNotOperatorDecides() public {
        address arbiter = makeAddr("chamber of commerce arbiter");
        Terms memory t = _fiatTerms();
        t.arbiter = arbiter;
        BillingAgreement a = _createActive(t);
        _settleWith(a, 0, 1500);
        vm.prank(payer);
        a.dispute(0, 140_000, bytes32(0));
        vm.warp(a.settlement(0).settledAt + DISPUTE_WINDOW);
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotArbiter.selector, operator));
        a.decideDispute(0, 70_000);
        vm.prank(arbiter);
        a.decideDispute(0, 70_000);
        assertEq(a.outstanding(), 70_000);
    }

    /// @dev Gas of `outstanding()` and `status()` on `a`, each called with the agreement's storage cold, measured by
    ///      `probe` in its own call frame.
    function _viewGas(GasProbe probe, BillingAgreement a) internal returns (uint256 outstandingGas, uint256 statusGas) {
        vm.cool(address(a));
        outstandingGas = probe.measure(address(a), abi.encodeCall(a.outstanding, ()));
        vm.cool(address(a));
        statusGas = probe.measure(address(a), abi.encodeCall(a.status, ()));
    }

    function test_Attack_OldOpenPeriodCannotGrowViewGas() public {
        // Hourly periods; every period owes a minimum, period 0 stays disputed (it used to pin the first-open
        // hint, so both views scanned every later period: about a million gas after 2,000 periods).
        Terms memory t = _fiatTerms();
        t.intervalKind = IntervalKind.FixedSeconds;
        t.interval = 1 hours;
        t.graceSeconds = 0;
        t.minimumCommitment = 100;
        BillingAgreement a = _createActive(t);
        vm.warp(START + 1 hours);
        a.settle(0);
        vm.prank(payer);
        a.dispute(0, 100, keccak256("old"));
        vm.warp(START + 2 hours);
        a.settle(1);
        GasProbe probe = new GasProbe();
        (uint256 outstanding2, uint256 status2) = _viewGas(probe, a);
        assertEq(a.outstanding(), 200);

        for (uint32 p = 2; p < 2000; ++p) {
            vm.warp(uint256(START) + uint256(p + 1) * 1 hours);
            a.settle(p);
        }
        assertEq(a.status().nextPeriodToSettle, 2000);
        (uint256 outstanding2000, uint256 status2000) = _viewGas(probe, a);
        assertEq(a.outstanding(), 200_000);
        console.log("outstanding() gas after 2 and 2,000 periods", outstanding2, outstanding2000);
        console.log("status() gas after 2 and 2,000 periods", status2, status2000);
        assertEq(outstanding2000, outstanding2, "outstanding() gas grew with the history");
        assertEq(status2000, status2, "status() gas grew with the history");
        // And both are small: one storage read, the calendar, the clone arguments.
        assertLt(outstanding2000, 10_000);
        assertLt(status2000, 30_000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 7: delisting a token freezes amendments of every agreement in it
    // ------------------------------------------------------------------------------------------------------------

    function test_Attack_DelistedTokenFreezesAmendments_KeepingTokenWorks() public {
        Terms memory t = _tokenTerms();
        BillingAgreement a = _createActive(t);
        vm.prank(admin);
        factory.setTokenAllowed(address(token), false);
        vm.warp(START + 10 days);
        t.paymentTermsDays = 30;
        (, bytes32 h) = factory.encodeAmendmentTerms(address(token), t);
        vm.prank(payer);
        assertEq(a.proposeAmendment(t), 2);
        vm.prank(payee);
        a.accept(2, h);
        (Terms memory current, uint16 version) = a.terms();
        assertEq(version, 2);
        assertEq(current.token, address(token));
        assertEq(current.paymentTermsDays, 30);
    }

    function test_Attack_AmendmentSwitchingToDelistedToken_Refused() public {
        BillingAgreement a = _createActive(_tokenTerms());
        MockToken other = new MockToken(2);
        vm.startPrank(admin);
        factory.setTokenAllowed(address(other), true);
        factory.setTokenAllowed(address(other), false); // delisted
        vm.stopPrank();
        Terms memory t = _tokenTerms();
        t.token = address(other);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_TokenNotAllowed.selector, address(other))
        );
        a.proposeAmendment(t);
        // Another agreement's token does not pass for this one either (only the agreement's own token does).
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_TokenNotAllowed.selector, address(other))
        );
        factory.encodeAmendmentTerms(address(token), t);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 8: setServiceStatus on the implementation writes its core slot
    // ------------------------------------------------------------------------------------------------------------

    function test_Attack_SetServiceStatusOnImplementation_Refused() public {
        BillingAgreement impl = BillingAgreement(factory.implementation());
        bytes32 core = vm.load(address(impl), bytes32(0));
        vm.prank(gateway);
        vm.expectRevert(IBillingAgreement.BillingAgreement_NotAClone.selector);
        impl.setServiceStatus(ServiceStatus.Suspended, keccak256("x"));
        assertEq(vm.load(address(impl), bytes32(0)), core);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 9: usage(period, 8) answers with another period's data (storage key collision)
    // ------------------------------------------------------------------------------------------------------------

    function test_Attack_UsageOfMeterEightReadsAnotherPeriod_Refused() public {
        BillingAgreement a = _createActive(_fiatTerms());
        vm.warp(START + 35 days); // period 1
        _report(a, 1, 0, 777);
        // Meter 8 of period 0 would have read key 0 << 1 | 8 / 4 = 2: the word of period 1, meters 0-3.
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(8), 1));
        a.usage(0, 8);
        // The same with all eight meters.
        Terms memory t = _baseTerms();
        t.meters = new Meter[](8);
        for (uint256 i; i < 8; ++i) {
            t.meters[i] = _perUnitMeter(1);
        }
        BillingAgreement b = _createActive(t);
        _report(b, 1, 0, 777);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(8), 8));
        b.usage(0, 8);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_UnknownMeter.selector, uint8(255), 8));
        b.usage(0, 255);
        assertEq(b.usage(1, 0), 777);
        assertEq(b.usage(0, 7), 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Item 10: a period above 2^96 − 1 without a cap blocks settlement of it and every later period
    // ------------------------------------------------------------------------------------------------------------

    function test_Attack_UncappedAmountAboveUint96_RefusedAtCreation() public {
        Terms memory t = _fiatTerms();
        t.priceDecimals = 0;
        t.meters[0] = _perUnitMeter(type(uint96).max);
        uint256 most = uint256(type(uint64).max) * type(uint96).max;
        vm.prank(operator);
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most));
        factory.createAgreement(payer, payee, t, bytes32(0));

        // With a cap the terms are accepted; a period far above 2^96 − 1 settles at the cap and the next one
        // settles after it.
        t.cap = type(uint96).max;
        BillingAgreement a = _createActive(t);
        vm.warp(START + 1 days);
        _report(a, 0, 0, type(uint64).max);
        _warpToSettle(a, 0);
        assertEq(a.settle(0), type(uint96).max);
        vm.prank(gateway);
        a.confirmPayment(0, type(uint96).max, keccak256("paid"));
        (uint40 start1,) = a.periodBounds(1);
        vm.warp(start1);
        _report(a, 1, 0, 3);
        _warpToSettle(a, 1);
        assertEq(a.settle(1), type(uint96).max);
        assertEq(a.status().nextPeriodToSettle, 2);
    }
}
// forge-lint: disable-end(block-timestamp)
