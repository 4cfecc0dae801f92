// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {AgreementState, Terms, TerminationReason} from "../../../../contracts/types/BillingTypes.sol";

contract AcceptTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal h;

    function setUp() public override {
        super.setUp();
        a = _create(_fiatTerms());
        h = _hash(_fiatTerms());
    }

    function test_FirstAcceptanceRecorded() public {
        vm.expectEmit(address(a));
        emit IBillingAgreement.TermsAccepted(payer, 1, h);
        vm.prank(payer);
        a.accept(1, h);
        assertTrue(a.hasAccepted(payer, 1));
        assertFalse(a.hasAccepted(payee, 1));
        assertEq(uint8(a.state()), uint8(AgreementState.Proposed));
    }

    function test_BothAcceptancesActivate() public {
        vm.prank(payee);
        a.accept(1, h);
        vm.expectEmit(address(a));
        emit IBillingAgreement.TermsAccepted(payer, 1, h);
        vm.expectEmit(address(a));
        emit IBillingAgreement.AgreementActivated(uint40(block.timestamp));
        vm.prank(payer);
        a.accept(1, h);
        assertEq(uint8(a.state()), uint8(AgreementState.Active));
        (, uint16 version) = a.terms();
        assertEq(version, 1);
        assertEq(a.status().pendingVersion, 0);
        assertTrue(a.hasAccepted(payer, 1));
    }

    function test_TermEndScheduledOnActivation() public {
        Terms memory fixedTerm = _fiatTerms();
        fixedTerm.end = START + 90 days; // 2025-04-01: periods 0, 1, 2
        BillingAgreement b = _create(fixedTerm);
        bytes32 hb = _hash(fixedTerm);
        vm.prank(payer);
        b.accept(1, hb);
        vm.expectEmit(address(b));
        emit IBillingAgreement.TerminationScheduled(3, TerminationReason.TermEnd, payee);
        vm.prank(payee);
        b.accept(1, hb);
        assertEq(b.status().endPeriod, 3);
    }

    function test_RevertWhen_CallerNotParty() public {
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotParty.selector, stranger));
        a.accept(1, h);
    }

    function test_RevertWhen_VersionNotPending() public {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(2)));
        a.accept(2, h);
    }

    function test_RevertWhen_AlreadyActive() public {
        _activate(a, _fiatTerms());
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(1)));
        a.accept(1, h);
    }

    function test_RevertWhen_Cancelled() public {
        vm.prank(operator);
        a.cancel();
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(1)));
        a.accept(1, h);
    }

    function test_RevertWhen_TermsHashDiffers() public {
        bytes32 wrong = keccak256("other terms");
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_TermsMismatch.selector, uint16(1), h, wrong)
        );
        a.accept(1, wrong);
    }

    function test_RevertWhen_AcceptedTwice() public {
        vm.prank(payer);
        a.accept(1, h);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_AlreadyAccepted.selector, payer, uint16(1))
        );
        a.accept(1, h);
    }

    function test_AcceptsAmendment() public {
        _activate(a, _fiatTerms());
        vm.warp(START + 40 days); // period 1
        Terms memory t2 = _fiatTerms();
        t2.paymentTermsDays = 30;
        vm.prank(payer);
        uint16 v = a.proposeAmendment(t2);
        bytes32 h2 = _hash(t2);
        vm.expectEmit(address(a));
        emit IBillingAgreement.TermsAmended(2, 2, h2);
        vm.prank(payee);
        a.accept(v, h2);
        assertEq(a.versionForPeriod(1), 1);
        assertEq(a.versionForPeriod(2), 2);
        (Terms memory current, uint16 version) = a.terms();
        assertEq(version, 2);
        assertEq(current.paymentTermsDays, 30);
        (,, uint32 effectiveFrom) = a.termsAt(2);
        assertEq(effectiveFrom, 2);
    }

    function test_RevertWhen_AmendingEndedAgreement() public {
        _activate(a, _fiatTerms());
        vm.warp(START + 40 days);
        vm.prank(payer);
        a.proposeAmendment(_fiatTerms());
        vm.prank(payer);
        a.giveNotice(); // ends after period 2 (notice 30 days from day 40)
        vm.warp(START + 120 days);
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Terminated)
        );
        a.accept(2, h);
    }

    function test_RevertWhen_AmendmentEndCutsPricedPeriod() public {
        _activate(a, _fiatTerms());
        vm.warp(START + 10 days); // period 0
        Terms memory t2 = _fiatTerms();
        t2.end = START + 59 days; // 2025-03-01: end period 2, fine at proposal
        vm.prank(payer);
        a.proposeAmendment(t2);
        vm.warp(START + 65 days); // period 2: the amendment would be effective from 3
        bytes32 h2 = _hash(t2);
        vm.prank(payee);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_EndTooEarly.selector, uint32(2), uint32(3))
        );
        a.accept(2, h2);
    }

    function test_AmendmentEndReplacesScheduledEnd() public {
        _activate(a, _fiatTerms());
        Terms memory t2 = _fiatTerms();
        t2.end = START + 365 days;
        vm.prank(payer);
        a.proposeAmendment(t2);
        bytes32 h2 = _hash(t2);
        vm.expectEmit(address(a));
        emit IBillingAgreement.TerminationScheduled(12, TerminationReason.TermEnd, payee);
        vm.prank(payee);
        a.accept(2, h2);
        assertEq(a.status().endPeriod, 12);
    }

    function test_RevertWhen_Reentered() public {
        // Covered with a re-entering token in Collect.t.sol; here the lock flag is simulated.
        _activate(a, _fiatTerms());
        bytes32 slot = bytes32(uint256(0)); // `_core` is the first state variable
        uint256 core = uint256(vm.load(address(a), slot));
        vm.store(address(a), slot, bytes32(core | (1 << 36)));
        vm.prank(payer);
        vm.expectRevert(IBillingAgreement.BillingAgreement_Reentrancy.selector);
        a.accept(2, h);
    }
}
