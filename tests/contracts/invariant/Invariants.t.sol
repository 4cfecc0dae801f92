// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {console} from "forge-std/console.sol";

import {BaseTest} from "../utils/BaseTest.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {MockToken} from "../../../contracts/mocks/MockToken.sol";
import {PaymentStatus, Settlement, Terms} from "../../../contracts/types/BillingTypes.sol";
import {Handler} from "./Handler.sol";

/// @notice The invariants of tests/contracts/INVARIANTS.md over random call sequences (see Handler).
contract InvariantsTest is StdInvariant, BaseTest {
    Handler internal handler;
    BillingAgreement[2] internal agreements;

    function setUp() public override {
        super.setUp();
        // A minimum commitment makes most settlements Due, so payments, returns and disputes get exercised.
        Terms memory t = _fiatTerms3();
        t.minimumCommitment = 25_000;
        agreements[0] = _createActive(t);
        MockToken mock = new MockToken(2);
        vm.prank(admin);
        factory.setTokenAllowed(address(mock), true);
        t.token = address(mock);
        agreements[1] = _createActive(t);
        mock.mint(payer, 1e15);
        mock.setFeeBps(50);
        vm.warp(START);

        handler = new Handler(factory, mock, agreements[0], agreements[1], [payer, payee, oracle, gateway, operator]);
        targetContract(address(handler));
        // Weighted: settling and paying need a few steps before them, so they are picked more often.
        bytes4[22] memory weighted = [
            Handler.warp.selector,
            Handler.warp.selector,
            Handler.reportUsage.selector,
            Handler.reportUsage.selector,
            Handler.replayStaleReport.selector,
            Handler.correctUsage.selector,
            Handler.settleNext.selector,
            Handler.settleNext.selector,
            Handler.settleNext.selector,
            Handler.confirmPayment.selector,
            Handler.confirmPayment.selector,
            Handler.confirmPayment.selector,
            Handler.reportReturn.selector,
            Handler.collect.selector,
            Handler.collect.selector,
            Handler.dispute.selector,
            Handler.dispute.selector,
            Handler.resolveDispute.selector,
            Handler.writeOff.selector,
            Handler.pauseOrResume.selector,
            Handler.setServiceStatus.selector,
            Handler.unauthorized.selector
        ];
        bytes4[] memory selectors = new bytes4[](weighted.length);
        for (uint256 i; i < weighted.length; ++i) {
            selectors[i] = weighted[i];
        }
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev paid ≤ billed for every settlement.
    function invariant_PaidNeverAboveBilled() public view {
        for (uint256 i; i < 2; ++i) {
            uint32 next = agreements[i].status().nextPeriodToSettle;
            for (uint32 p; p < next; ++p) {
                Settlement memory s = agreements[i].settlement(p);
                assertLe(s.paid, s.amount);
            }
        }
    }

    /// @dev A period settles once (its record never changes its settlement time) and never before end + grace;
    ///      periods from `nextPeriodToSettle` on have no settlement.
    function invariant_SettledOnceNeverEarly() public view {
        assertEq(handler.settledTooEarly(), 0);
        for (uint256 i; i < 2; ++i) {
            uint32 next = agreements[i].status().nextPeriodToSettle;
            for (uint32 p; p < next; ++p) {
                Settlement memory s = agreements[i].settlement(p);
                assertTrue(s.status != PaymentStatus.None);
                assertEq(s.settledAt, handler.ghostSettledAt(i, p));
                assertGe(s.settledAt, handler.earliestSettle(i, p));
            }
            assertEq(uint8(agreements[i].settlement(next).status), uint8(PaymentStatus.None));
        }
    }

    /// @dev Usage totals never decrease except through correctUsage.
    function invariant_UsageNeverDecreasesWithoutCorrection() public view {
        assertEq(handler.usageDecreasedWithoutCorrection(), 0);
    }

    /// @dev Payment status changes only along the documented transitions.
    function invariant_StatusTransitionsAllowed() public view {
        assertEq(handler.badTransitions(), 0);
    }

    /// @dev Callers without the right role never change state.
    function invariant_OnlyRolesChangeState() public view {
        assertEq(handler.unauthorizedSuccesses(), 0);
    }

    /// @dev outstanding() is the sum of what is open on settlements that are not written off.
    function invariant_OutstandingIsSumOfOpen() public view {
        for (uint256 i; i < 2; ++i) {
            uint32 next = agreements[i].status().nextPeriodToSettle;
            uint256 sum;
            for (uint32 p; p < next; ++p) {
                Settlement memory s = agreements[i].settlement(p);
                if (s.status != PaymentStatus.WrittenOff) sum += s.amount - s.paid;
            }
            assertEq(agreements[i].outstanding(), sum);
        }
    }

    /// @dev Every period below the first-open hint (bits 144-175 of the core word, slot 0) is Paid or WrittenOff and
    ///      the hint is at most `nextPeriodToSettle`, so `outstanding`, which sums from the hint, misses nothing.
    function invariant_FirstOpenHintBelowEveryOpenPeriod() public view {
        for (uint256 i; i < 2; ++i) {
            uint32 next = agreements[i].status().nextPeriodToSettle;
            // forge-lint: disable-next-line(unsafe-typecast)
            uint32 firstOpen = uint32(uint256(vm.load(address(agreements[i]), bytes32(0))) >> 144);
            assertLe(firstOpen, next);
            for (uint32 p; p < firstOpen; ++p) {
                PaymentStatus st = agreements[i].settlement(p).status;
                assertTrue(st == PaymentStatus.Paid || st == PaymentStatus.WrittenOff);
            }
        }
    }

    /// @dev Status and amounts agree: Paid means fully paid (unless Disputed or WrittenOff, anything else means
    ///      something is open or nothing was paid).
    function invariant_StatusMatchesAmounts() public view {
        for (uint256 i; i < 2; ++i) {
            uint32 next = agreements[i].status().nextPeriodToSettle;
            for (uint32 p; p < next; ++p) {
                Settlement memory s = agreements[i].settlement(p);
                if (s.status == PaymentStatus.Paid) assertEq(s.paid, s.amount);
                if (s.status == PaymentStatus.Due) assertEq(s.paid, 0);
                if (s.status == PaymentStatus.PartiallyPaid) assertTrue(s.paid > 0 && s.paid < s.amount);
                if (s.status == PaymentStatus.Returned) assertLt(s.paid, s.amount);
            }
        }
    }

    function afterInvariant() public view {
        // The run exercised the handler (guards against a silently broken setup).
        assertGt(handler.calls(), 0);
    }

    /// @dev Shows what the runs exercised (`forge test --mt invariant_CallSummary -vv`).
    function invariant_CallSummary() public view {
        console.log("reports", handler.successes("report"), "settlements", handler.successes("settle"));
        console.log("payments", handler.successes("confirm"), "returns", handler.successes("return"));
        console.log("collected", handler.successes("collect"), "disputes", handler.successes("dispute"));
        console.log("resolved", handler.successes("resolve"), "written off", handler.successes("writeOff"));
        // forge-lint: disable-next-line(unsafe-typecast)
        uint32 firstOpen = uint32(uint256(vm.load(address(agreements[0]), bytes32(0))) >> 144);
        console.log("fiat: first open", firstOpen, "next to settle", agreements[0].status().nextPeriodToSettle);
    }
}
