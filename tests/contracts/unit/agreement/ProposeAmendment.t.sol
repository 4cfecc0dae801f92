// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IAgreementFactory} from "../../../../contracts/interfaces/IAgreementFactory.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {ITermsErrors} from "../../../../contracts/interfaces/ITermsErrors.sol";
import {MockToken} from "../../../../contracts/mocks/MockToken.sol";
import {AgreementState, IntervalKind, Meter, Terms} from "../../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(unsafe-typecast)
contract ProposeAmendmentTest is BaseTest {
    BillingAgreement internal a;

    function setUp() public override {
        super.setUp();
        a = _createActive(_fiatTerms());
        vm.warp(START + 10 days);
    }

    function _cheaper() internal pure returns (Terms memory t) {
        t = _fiatTerms();
        t.meters[0].tiers[0].unitPrice = 9000;
    }

    function test_PartyProposesAndAcceptsAtOnce() public {
        Terms memory t = _cheaper();
        (bytes memory packed, bytes32 h) = factory.encodeTerms(t);
        vm.expectEmit(address(a));
        emit IBillingAgreement.AmendmentProposed(2, payer, h, packed);
        vm.expectEmit(address(a));
        emit IBillingAgreement.TermsAccepted(payer, 2, h);
        vm.prank(payer);
        assertEq(a.proposeAmendment(t), 2);
        assertTrue(a.hasAccepted(payer, 2));
        assertFalse(a.hasAccepted(payee, 2));
        assertEq(a.status().pendingVersion, 2);
        (Terms memory pending, bytes32 ph, uint32 effectiveFrom) = a.termsAt(2);
        assertEq(ph, h);
        assertEq(effectiveFrom, 0);
        assertEq(pending.meters[0].tiers[0].unitPrice, 9000);
        // The latest accepted terms are unchanged until the other party accepts.
        (, uint16 version) = a.terms();
        assertEq(version, 1);
    }

    function test_OperatorProposesWithoutAccepting() public {
        vm.prank(operator);
        a.proposeAmendment(_cheaper());
        assertFalse(a.hasAccepted(payer, 2));
        assertFalse(a.hasAccepted(payee, 2));
    }

    function test_ReplacesPendingAmendment() public {
        // Changed with issue 10 (item 4): the replacement gets its own version number (3); the replaced proposal
        // keeps 2 for good (it used to reuse 2).
        bytes32 h2 = _hash(_cheaper());
        vm.prank(payer);
        a.proposeAmendment(_cheaper());
        Terms memory other = _fiatTerms();
        other.paymentTermsDays = 60;
        bytes32 h = _hash(other);
        vm.prank(payee);
        assertEq(a.proposeAmendment(other), 3);
        assertEq(a.status().pendingVersion, 3);
        assertFalse(a.hasAccepted(payer, 2)); // the payer's acceptance of the replaced proposal is gone
        assertFalse(a.hasAccepted(payer, 3));
        assertTrue(a.hasAccepted(payee, 3));
        (, bytes32 ph,) = a.termsAt(3);
        assertEq(ph, h);
        // The replaced proposal stays readable under its number, never in force.
        (, bytes32 replaced, uint32 from2) = a.termsAt(2);
        assertEq(replaced, h2);
        assertEq(from2, 0);
        // Accepting it is no longer possible.
        vm.prank(payee);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPending.selector, uint16(2)));
        a.accept(2, h2);
    }

    function test_VersionsInForceSkipRejectedNumbers() public {
        vm.prank(payer);
        a.proposeAmendment(_cheaper()); // 2
        vm.prank(payee);
        a.rejectAmendment();
        Terms memory t = _fiatTerms();
        t.paymentTermsDays = 21;
        assertEq(_amend(a, t), 3);
        (, uint16 version) = a.terms();
        assertEq(version, 3);
        assertEq(a.versionForPeriod(0), 1);
        assertEq(a.versionForPeriod(1), 3);
        assertFalse(a.hasAccepted(payer, 2));
        assertTrue(a.hasAccepted(payer, 3));
        assertTrue(a.hasAccepted(payee, 1));
    }

    function test_AddsMeters() public {
        Terms memory t = _fiatTerms3();
        _amend(a, t);
        assertEq(a.usageOf(0).length, 1);
        assertEq(a.usageOf(1).length, 3);
    }

    function test_MayChangePriceDecimalsAndModel() public {
        Terms memory t = _fiatTerms();
        t.priceDecimals = 4;
        t.meters[0] = _perUnitMeter(1);
        _amend(a, t);
        (Terms memory current,) = a.terms();
        assertEq(current.priceDecimals, 4);
    }

    function test_RevertWhen_CallerNotPartyOrOperator() public {
        Terms memory t = _cheaper();
        vm.prank(stranger);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotPartyOrOperator.selector, stranger)
        );
        a.proposeAmendment(t);
    }

    function test_RevertWhen_Proposed() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(1)));
        Terms memory t = _cheaper();
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Proposed)
        );
        b.proposeAmendment(t);
    }

    function test_RevertWhen_Ended() public {
        vm.prank(payer);
        a.giveNotice();
        vm.warp(START + 100 days);
        Terms memory t = _cheaper();
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidState.selector, AgreementState.Terminated)
        );
        a.proposeAmendment(t);
    }

    function test_RevertWhen_TooManyVersions() public {
        Terms memory t = _cheaper();
        for (uint256 v = 2; v <= 32; ++v) {
            t.paymentTermsDays = uint16(v);
            _amend(a, t);
        }
        assertEq(a.status().version, 32);
        t.paymentTermsDays = 99;
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_TooManyVersions.selector, uint16(32)));
        a.proposeAmendment(t);
    }

    function test_RejectedProposalsDoNotCountAgainstTheLimit() public {
        // MAX_VERSIONS bounds the versions in force, not the proposals.
        Terms memory t = _cheaper();
        for (uint256 i; i < 40; ++i) {
            t.paymentTermsDays = uint16(i);
            vm.prank(payer);
            a.proposeAmendment(t);
            vm.prank(payee);
            a.rejectAmendment();
        }
        t.paymentTermsDays = 99;
        assertEq(_amend(a, t), 42);
        assertEq(a.versionForPeriod(1), 42);
    }

    function test_RevertWhen_VersionNumbersExhausted() public {
        // The highest proposed number: `_versions[0]` (mapping at slot 1).
        vm.store(address(a), keccak256(abi.encode(uint256(0), uint256(1))), bytes32(uint256(type(uint16).max)));
        Terms memory t = _cheaper();
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_TooManyVersions.selector, type(uint16).max)
        );
        a.proposeAmendment(t);
    }

    function test_RevertWhen_TermsInvalid() public {
        Terms memory t = _cheaper();
        t.meters[0].tiers[2].upTo = 5;
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(ITermsErrors.Terms_TiersNotAscending.selector, 0, 2, uint64(5), uint64(10_000))
        );
        a.proposeAmendment(t);
    }

    function _expectImmutable(Terms memory t, string memory field) internal {
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_ImmutableTermChanged.selector, field));
        a.proposeAmendment(t);
    }

    function test_RevertWhen_TokenChanged() public {
        Terms memory t = _cheaper();
        t.token = address(token);
        _expectImmutable(t, "token");
    }

    function test_RevertWhen_CurrencyChanged() public {
        Terms memory t = _cheaper();
        t.currency = "USD";
        _expectImmutable(t, "currency");
    }

    function test_RevertWhen_MinorDigitsChanged() public {
        Terms memory t = _cheaper();
        t.minorDigits = 3;
        _expectImmutable(t, "minorDigits");
    }

    function test_RevertWhen_IntervalChanged() public {
        Terms memory t = _cheaper();
        t.interval = 3;
        _expectImmutable(t, "interval");
        t.interval = 86_400;
        t.intervalKind = IntervalKind.FixedSeconds;
        _expectImmutable(t, "interval");
    }

    function test_RevertWhen_StartChanged() public {
        Terms memory t = _cheaper();
        t.start = START + 1;
        _expectImmutable(t, "start");
    }

    function test_RevertWhen_MeterRemoved() public {
        _amend(a, _fiatTerms3());
        _expectImmutable(_fiatTerms(), "meters");
    }

    function test_RevertWhen_EndBeforeNextPeriod() public {
        Terms memory t = _cheaper();
        t.end = START + 31 days; // end period 1: would cut the running period 0's successor... period 0 is current
        vm.warp(START + 40 days); // now period 1: earliest end period is 2
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_EndTooEarly.selector, uint32(1), uint32(2))
        );
        a.proposeAmendment(t);
    }

    function test_KeepsTokenRemovedFromAllowList() public {
        // Changed with issue 10 (item 7): delisting the agreement's token used to block every amendment.
        Terms memory tokenTerms = _tokenTerms();
        BillingAgreement b = _createActive(tokenTerms);
        vm.prank(admin);
        factory.setTokenAllowed(address(token), false);
        tokenTerms.paymentTermsDays = 30;
        assertEq(_amend(b, tokenTerms), 2);
        (Terms memory current,) = b.terms();
        assertEq(current.token, address(token));
        assertEq(current.paymentTermsDays, 30);
        // New agreements in the token are still refused.
        vm.prank(operator);
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_TokenNotAllowed.selector, address(token))
        );
        factory.createAgreement(payer, payee, tokenTerms, bytes32(uint256(5)));
    }

    function test_RevertWhen_SwitchingToDelistedToken() public {
        BillingAgreement b = _createActive(_tokenTerms());
        MockToken other = new MockToken(2);
        Terms memory t = _tokenTerms();
        t.token = address(other); // never allow-listed
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_TokenNotAllowed.selector, address(other))
        );
        b.proposeAmendment(t);
        // Allow-listed, it is still another token: the agreement's token is fixed for life.
        vm.prank(admin);
        factory.setTokenAllowed(address(other), true);
        vm.prank(payer);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_ImmutableTermChanged.selector, "token")
        );
        b.proposeAmendment(t);
    }

    function test_RevertWhen_CapRequired() public {
        Terms memory t = _cheaper();
        t.priceDecimals = 0;
        t.meters[0] = _perUnitMeter(type(uint96).max);
        uint256 most = uint256(type(uint64).max) * type(uint96).max;
        vm.prank(payer);
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most));
        a.proposeAmendment(t);
        t.cap = type(uint96).max;
        vm.prank(payer);
        assertEq(a.proposeAmendment(t), 2);
    }
}
// forge-lint: disable-end(unsafe-typecast)
