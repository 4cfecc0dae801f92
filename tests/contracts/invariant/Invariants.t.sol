// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {console} from "forge-std/console.sol";

import {BaseTest} from "../utils/BaseTest.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {MockToken} from "../../../contracts/mocks/MockToken.sol";
import {PaymentStatus, Settlement, Terms} from "../../../contracts/types/BillingTypes.sol";
import {Handler} from "./Handler.sol";

/// @notice The invariants of tests/contracts/INVARIANTS.md over random call sequences (see Handler): 32 runs of 128
///         calls per invariant (longer runs reach later periods, and every run must exercise the key calls, see
///         `afterInvariant`).
/// forge-config: default.invariant.runs = 32
/// forge-config: default.invariant.depth = 128
contract InvariantsTest is StdInvariant, BaseTest {
    /// @dev The depth configured above: a run of this many calls must have exercised the key calls.
    uint256 internal constant DEPTH = 128;

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

        handler = new Handler(
            factory, mock, agreements[0], agreements[1], [payer, payee, oracle, gateway, operator, admin], oracleKey
        );
        targetContract(address(handler));
        // Weighted so that every run (afterInvariant) reports, corrects, settles, pays and disputes: those actions
        // enable themselves (a payment or dispute settles a period first when there is none to act on) and are
        // picked most often.
        bytes4[38] memory weighted = [
            Handler.warp.selector,
            Handler.warp.selector,
            Handler.reportUsage.selector,
            Handler.reportUsage.selector,
            Handler.reportUsage.selector,
            Handler.reportUsage.selector,
            Handler.reportUsage.selector,
            Handler.replaySigned.selector,
            Handler.replaySigned.selector,
            Handler.correctUsage.selector,
            Handler.correctUsage.selector,
            Handler.correctUsage.selector,
            Handler.correctUsage.selector,
            Handler.correctUsage.selector,
            Handler.regrantOracle.selector,
            Handler.settleNext.selector,
            Handler.settleNext.selector,
            Handler.confirmPayment.selector,
            Handler.confirmPayment.selector,
            Handler.confirmPayment.selector,
            Handler.confirmPayment.selector,
            Handler.confirmPayment.selector,
            Handler.reportReturn.selector,
            Handler.collect.selector,
            Handler.collect.selector,
            Handler.dispute.selector,
            Handler.dispute.selector,
            Handler.dispute.selector,
            Handler.dispute.selector,
            Handler.dispute.selector,
            Handler.resolveDispute.selector,
            Handler.decideDispute.selector,
            Handler.writeOff.selector,
            Handler.pauseOrResume.selector,
            Handler.pauseOrResume.selector,
            Handler.setServiceStatus.selector,
            Handler.unauthorized.selector,
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

    /// @dev Usage totals never decrease except through correctUsage, and no report undoes a correction: a report
    ///      (direct, or a signed one relayed or replayed by anyone) built on an earlier usage epoch or signed under an
    ///      earlier grant of the oracle role is refused, and replaying a signed report changes nothing.
    function invariant_UsageNeverDecreasesWithoutCorrection() public view {
        assertEq(handler.usageDecreasedWithoutCorrection(), 0, "usage decreased");
        assertEq(handler.staleReportsAccepted(), 0, "stale report accepted");
        assertEq(handler.replaysThatChangedUsage(), 0, "replay changed usage");
    }

    /// @dev Payment status changes only along the documented transitions.
    function invariant_StatusTransitionsAllowed() public view {
        assertEq(handler.badTransitions(), 0);
    }

    /// @dev Callers without the right role never change state, nor do calls the state forbids (usage reports and
    ///      settlement while paused, an arbiter's decision while the dispute window is open).
    function invariant_OnlyRolesChangeState() public view {
        assertEq(handler.unauthorizedSuccesses(), 0, "call without the role accepted");
        assertEq(handler.forbiddenSuccesses(), 0, "call the state forbids accepted");
    }

    /// @dev The running total: outstanding() and status().outstanding (read from the core slot, never computed
    ///      from the settlements) equal the sum of amount − paid over the settlements not written off.
    function invariant_OutstandingIsSumOfOpen() public view {
        for (uint256 i; i < 2; ++i) {
            uint32 next = agreements[i].status().nextPeriodToSettle;
            uint256 sum;
            for (uint32 p; p < next; ++p) {
                Settlement memory s = agreements[i].settlement(p);
                if (s.status != PaymentStatus.WrittenOff) sum += s.amount - s.paid;
            }
            assertEq(agreements[i].outstanding(), sum, "outstanding()");
            assertEq(agreements[i].status().outstanding, sum, "status().outstanding");
        }
    }

    /// @dev A Disputed settlement disputes between 1 and its billed amount; any other has no disputed amount.
    function invariant_DisputedAmountWithinBilled() public view {
        for (uint256 i; i < 2; ++i) {
            uint32 next = agreements[i].status().nextPeriodToSettle;
            for (uint32 p; p < next; ++p) {
                Settlement memory s = agreements[i].settlement(p);
                if (s.status == PaymentStatus.Disputed) {
                    assertGe(s.disputed, 1);
                    assertLe(s.disputed, s.amount);
                } else {
                    assertEq(s.disputed, 0);
                }
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

    /// @dev Each run must have exercised what the invariants are about, so the suite cannot pass on a run where
    ///      every call reverted: successful settlements, fiat payments, direct and relayed usage reports, corrections,
    ///      disputes, and replays of signed reports refused after a correction or a new grant.
    ///      Checked on full-length runs only: when forge shrinks a failing run to a shorter sequence, these counts
    ///      would otherwise fail first and hide the invariant that actually broke.
    function afterInvariant() public view {
        assertGt(handler.calls(), 0, "calls");
        if (handler.calls() < DEPTH) return;
        assertGt(handler.successes("settle"), 0, "settle");
        assertGt(handler.successes("confirm"), 0, "confirmPayment");
        assertGt(handler.successes("report"), 0, "reportUsage");
        assertGt(handler.successes("relay"), 0, "reportUsageWithSignature");
        assertGt(handler.successes("correct"), 0, "correctUsage");
        assertGt(handler.successes("dispute"), 0, "dispute");
        assertGt(handler.successes("replayRefused"), 0, "stale replay refused");
    }

    /// @dev Shows what the runs exercised (`forge test --mt invariant_CallSummary -vv`).
    function invariant_CallSummary() public view {
        console.log("reports", handler.successes("report"), "relayed", handler.successes("relay"));
        console.log("replays", handler.successes("replay"), "refused", handler.successes("replayRefused"));
        console.log("corrections", handler.successes("correct"), "regrants", handler.successes("regrant"));
        console.log("settlements", handler.successes("settle"), "payments", handler.successes("confirm"));
        console.log("returns", handler.successes("return"), "collected", handler.successes("collect"));
        console.log("disputes", handler.successes("dispute"), "resolved", handler.successes("resolve"));
        console.log("decided", handler.successes("decide"), "written off", handler.successes("writeOff"));
        console.log("fiat: outstanding", agreements[0].outstanding(), "epoch", agreements[0].usageEpoch());
    }
}
