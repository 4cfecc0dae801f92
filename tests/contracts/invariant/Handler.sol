// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {AgreementFactory} from "../../../contracts/AgreementFactory.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {MockToken} from "../../../contracts/mocks/MockToken.sol";
import {MeterUsage, PaymentStatus, ServiceStatus, Settlement} from "../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: tests compare against block time on purpose.
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(block-timestamp, unsafe-typecast)
/// @notice Drives one fiat and one token agreement through random but plausible sequences of calls, and keeps
///         ghost records the invariants compare the contracts against.
contract Handler is Test {
    uint256 internal constant METERS = 3;
    uint256 internal constant MAX_PERIODS = 64;

    AgreementFactory public immutable factory;
    MockToken public immutable mock;
    BillingAgreement[2] public agreements; // 0: fiat, 1: token
    address public immutable payer;
    address public immutable payee;
    address public immutable oracle;
    address public immutable gateway;
    address public immutable operator;
    address[3] internal strangers;

    // ---- ghosts ----
    /// @dev Last usage seen per agreement, period and meter.
    mapping(uint256 => mapping(uint256 => mapping(uint256 => uint64))) public lastUsage;
    /// @dev settledAt recorded when `settle` succeeded, and the earliest time it was allowed.
    mapping(uint256 => mapping(uint256 => uint256)) public ghostSettledAt;
    mapping(uint256 => mapping(uint256 => uint256)) public earliestSettle;
    mapping(uint256 => mapping(uint256 => PaymentStatus)) public lastStatus;
    uint256 public usageDecreasedWithoutCorrection;
    uint256 public badTransitions;
    uint256 public unauthorizedSuccesses;
    uint256 public settledTooEarly;
    uint256 public calls;
    /// @dev Successful calls per action, to show what a run exercised.
    mapping(bytes32 => uint256) public successes;

    constructor(
        AgreementFactory factory_,
        MockToken mock_,
        BillingAgreement fiat,
        BillingAgreement tokenAgreement,
        address[5] memory roles
    ) {
        factory = factory_;
        mock = mock_;
        agreements[0] = fiat;
        agreements[1] = tokenAgreement;
        (payer, payee, oracle, gateway, operator) = (roles[0], roles[1], roles[2], roles[3], roles[4]);
        strangers = [makeAddr("stranger 1"), makeAddr("stranger 2"), makeAddr("stranger 3")];
    }

    modifier observe() {
        ++calls;
        _;
        _sweep();
    }

    function _pick(uint256 seed) internal view returns (uint256 i, BillingAgreement a) {
        i = seed % 2;
        a = agreements[i];
    }

    // ------------------------------------------------------------------------------------------------------------
    // Actions
    // ------------------------------------------------------------------------------------------------------------

    function warp(uint256 secondsAhead) external observe {
        vm.warp(block.timestamp + bound(secondsAhead, 0, 20 days));
    }

    function reportUsage(uint256 seed, uint256 meterSeed, uint64 amount, bool previousPeriod) external observe {
        (, BillingAgreement a) = _pick(seed);
        (uint32 current,,) = a.currentPeriod();
        uint32 period = previousPeriod && current > 0 ? current - 1 : current;
        uint8 meter = uint8(meterSeed % METERS);
        uint64 cumulative = a.usage(period, meter) + uint64(bound(amount, 0, 5000));
        MeterUsage[] memory u = new MeterUsage[](1);
        u[0] = MeterUsage(meter, cumulative);
        vm.prank(oracle);
        try a.reportUsage(period, bytes32(seed), bytes32(0), u) {
            ++successes["report"];
        } catch {}
    }

    function replayStaleReport(uint256 seed, uint256 meterSeed) external observe {
        (, BillingAgreement a) = _pick(seed);
        (uint32 period,,) = a.currentPeriod();
        uint8 meter = uint8(meterSeed % METERS);
        uint64 stored = a.usage(period, meter);
        MeterUsage[] memory u = new MeterUsage[](1);
        u[0] = MeterUsage(meter, stored == 0 ? 0 : stored - 1);
        vm.prank(oracle);
        try a.reportUsage(period, bytes32(seed), bytes32(0), u) {} catch {}
    }

    function correctUsage(uint256 seed, uint256 meterSeed, uint64 corrected) external {
        ++calls;
        (uint256 i, BillingAgreement a) = _pick(seed);
        (uint32 period,,) = a.currentPeriod();
        uint8 meter = uint8(meterSeed % METERS);
        vm.prank(oracle);
        try a.correctUsage(period, meter, uint64(bound(corrected, 0, 20_000)), bytes32(0), "fix") {
            lastUsage[i][period][meter] = a.usage(period, meter); // a correction may lower the figure
        } catch {}
        _sweep();
    }

    function settleNext(uint256 seed, uint256 caller) external observe {
        (uint256 i, BillingAgreement a) = _pick(seed);
        uint32 next = a.status().nextPeriodToSettle;
        (, uint40 end) = a.periodBounds(next);
        uint256 earliest = uint256(end) + 2 days;
        // Usually wait until the period can be settled; sometimes try too early.
        if (seed % 4 != 0 && block.timestamp < earliest) vm.warp(earliest + (seed >> 8) % 1 days);
        vm.prank(caller % 2 == 0 ? gateway : strangers[caller % 3]);
        try a.settle(next) {
            ghostSettledAt[i][next] = block.timestamp;
            earliestSettle[i][next] = earliest;
            if (block.timestamp < earliest) ++settledTooEarly;
            ++successes["settle"];
        } catch {}
    }

    function confirmPayment(uint256 periodSeed, uint96 amount) external observe {
        BillingAgreement a = agreements[0];
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        uint32 period = uint32(periodSeed % next);
        Settlement memory s = a.settlement(period);
        uint96 open = s.amount - s.paid;
        if (open == 0) return;
        vm.prank(gateway);
        try a.confirmPayment(period, uint96(bound(amount, 1, open)), bytes32(periodSeed)) {
            ++successes["confirm"];
        } catch {}
    }

    function reportReturn(uint256 periodSeed, uint96 amount) external observe {
        BillingAgreement a = agreements[0];
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        uint32 period = uint32(periodSeed % next);
        Settlement memory s = a.settlement(period);
        if (s.paid == 0) return;
        vm.prank(gateway);
        try a.reportReturn(period, uint96(bound(amount, 1, s.paid)), "AM04", bytes32(0)) {
            ++successes["return"];
        } catch {}
    }

    function collect(uint256 periodSeed, uint256 allowance, bool feeOnTransfer) external observe {
        BillingAgreement a = agreements[1];
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        vm.prank(payer);
        mock.approve(address(a), bound(allowance, 0, 10_000_000));
        mock.setMode(feeOnTransfer ? MockToken.Mode.Fee : MockToken.Mode.Normal);
        try a.collect(uint32(periodSeed % next)) returns (uint256 got) {
            if (got != 0) ++successes["collect"];
        } catch {}
        mock.setMode(MockToken.Mode.Normal);
    }

    function dispute(uint256 seed, uint256 periodSeed) external observe {
        (, BillingAgreement a) = _pick(seed);
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        vm.prank(payer);
        try a.dispute(uint32(periodSeed % next), bytes32(0)) {
            ++successes["dispute"];
        } catch {}
    }

    function resolveDispute(uint256 seed, uint256 periodSeed, uint96 agreed) external observe {
        (, BillingAgreement a) = _pick(seed);
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        uint32 period = uint32(periodSeed % next);
        Settlement memory s = a.settlement(period);
        if (s.status != PaymentStatus.Disputed) return;
        uint96 amount = uint96(bound(agreed, s.paid, s.amount));
        vm.prank(payer);
        try a.resolveDispute(period, amount) {} catch {}
        vm.prank(payee);
        try a.resolveDispute(period, amount) {
            ++successes["resolve"];
        } catch {}
    }

    function writeOff(uint256 seed, uint256 periodSeed) external observe {
        (, BillingAgreement a) = _pick(seed);
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        uint32 period = uint32(periodSeed % next);
        vm.prank(payee);
        try a.writeOff(period) {} catch {}
        vm.prank(payer);
        try a.writeOff(period) {
            ++successes["writeOff"];
        } catch {}
    }

    function pauseOrResume(uint256 seed) external observe {
        (, BillingAgreement a) = _pick(seed);
        vm.startPrank(payee);
        try a.pause() {}
        catch {
            try a.resume() {} catch {}
        }
        vm.stopPrank();
    }

    function setServiceStatus(uint256 seed, uint8 status) external observe {
        (, BillingAgreement a) = _pick(seed);
        vm.prank(gateway);
        try a.setServiceStatus(ServiceStatus(status % 3), bytes32(0)) {} catch {}
    }

    /// @dev A caller without the needed role tries a state-changing call; every one must fail.
    function unauthorized(uint256 seed, uint256 who, uint256 what, uint96 amount) external observe {
        (, BillingAgreement a) = _pick(seed);
        address caller = strangers[who % 3];
        uint32 period = a.status().nextPeriodToSettle;
        period = period == 0 ? 0 : period - 1;
        MeterUsage[] memory u = new MeterUsage[](1);
        u[0] = MeterUsage(0, type(uint64).max);
        bytes memory data;
        uint256 k = what % 12;
        if (k == 0) data = abi.encodeCall(a.reportUsage, (period, bytes32(0), bytes32(0), u));
        else if (k == 1) data = abi.encodeCall(a.correctUsage, (period, 0, 0, bytes32(0), "x"));
        else if (k == 2) data = abi.encodeCall(a.confirmPayment, (period, amount == 0 ? 1 : amount, bytes32(0)));
        else if (k == 3) data = abi.encodeCall(a.reportReturn, (period, amount == 0 ? 1 : amount, "AM04", bytes32(0)));
        else if (k == 4) data = abi.encodeCall(a.dispute, (period, bytes32(0)));
        else if (k == 5) data = abi.encodeCall(a.resolveDispute, (period, 0));
        else if (k == 6) data = abi.encodeCall(a.writeOff, (period));
        else if (k == 7) data = abi.encodeCall(a.setServiceStatus, (ServiceStatus.Suspended, bytes32(0)));
        else if (k == 8) data = abi.encodeCall(a.pause, ());
        else if (k == 9) data = abi.encodeCall(a.giveNotice, ());
        else if (k == 10) data = abi.encodeCall(a.terminateByConsent, (period + 2));
        else data = abi.encodeCall(a.initialize, ());
        vm.prank(caller);
        (bool ok,) = address(a).call(data);
        if (ok) ++unauthorizedSuccesses;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Observation
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Compares every agreement's usage and payment status with the ghosts after each action.
    function _sweep() internal {
        for (uint256 i; i < 2; ++i) {
            BillingAgreement a = agreements[i];
            (uint32 current,,) = a.currentPeriod();
            uint256 top = current + 1 < MAX_PERIODS ? current + 1 : MAX_PERIODS;
            for (uint256 p; p < top; ++p) {
                for (uint256 m; m < METERS; ++m) {
                    uint64 u = a.usage(uint32(p), uint8(m));
                    if (u < lastUsage[i][p][m]) ++usageDecreasedWithoutCorrection;
                    lastUsage[i][p][m] = u;
                }
                PaymentStatus s = a.settlement(uint32(p)).status;
                PaymentStatus before = lastStatus[i][p];
                if (s != before) {
                    if (!allowedTransition(before, s)) ++badTransitions;
                    lastStatus[i][p] = s;
                }
            }
        }
    }

    /// @notice The payment status transitions BillingTypes documents (changes only; staying put is always fine).
    function allowedTransition(PaymentStatus from, PaymentStatus to) public pure returns (bool) {
        if (from == PaymentStatus.None) {
            return to == PaymentStatus.Due || to == PaymentStatus.Paid || to == PaymentStatus.PartiallyPaid; // token pulls right after settlement
        }
        if (from == PaymentStatus.Due) {
            return to == PaymentStatus.PartiallyPaid || to == PaymentStatus.Paid || to == PaymentStatus.Disputed
                || to == PaymentStatus.WrittenOff;
        }
        if (from == PaymentStatus.PartiallyPaid || from == PaymentStatus.Returned) {
            return to == PaymentStatus.PartiallyPaid || to == PaymentStatus.Paid || to == PaymentStatus.Returned
                || to == PaymentStatus.Disputed || to == PaymentStatus.WrittenOff;
        }
        if (from == PaymentStatus.Paid) return to == PaymentStatus.Returned || to == PaymentStatus.Disputed;
        if (from == PaymentStatus.Disputed) {
            return to == PaymentStatus.Due || to == PaymentStatus.PartiallyPaid || to == PaymentStatus.Paid
                || to == PaymentStatus.WrittenOff;
        }
        return false; // WrittenOff is final
    }
}
// forge-lint: disable-end(block-timestamp, unsafe-typecast)
