// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {AgreementFactory} from "../../../contracts/AgreementFactory.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../contracts/interfaces/IBillingAgreement.sol";
import {MockToken} from "../../../contracts/mocks/MockToken.sol";
import {
    AgreementState,
    MeterUsage,
    PaymentStatus,
    ServiceStatus,
    Settlement
} from "../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: tests compare against block time on purpose.
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(block-timestamp, unsafe-typecast)
/// @notice Drives one fiat and one token agreement through random but plausible sequences of calls, and keeps
///         ghost records the invariants compare the contracts against. Every action counts its successful calls
///         (`successes`), so the suite can require that a run exercised what it claims to check.
contract Handler is Test {
    uint256 internal constant METERS = 3;
    uint256 internal constant MAX_PERIODS = 64;
    /// @dev The dispute window of the terms under test (BaseTest.DISPUTE_WINDOW).
    uint256 internal constant DISPUTE_WINDOW = 30 days;

    /// @dev A signed usage report the handler relayed once and keeps for replays.
    struct SignedReport {
        uint256 agreement;
        uint32 period;
        bytes32 reportId;
        uint16 epoch;
        uint40 signerSince;
        uint8 meter;
        uint64 cumulative;
        bytes signature;
    }

    AgreementFactory public immutable factory;
    MockToken public immutable mock;
    BillingAgreement[2] public agreements; // 0: fiat, 1: token
    address public immutable payer;
    address public immutable payee;
    address public immutable oracle;
    address public immutable gateway;
    address public immutable operator;
    address public immutable admin;
    uint256 internal immutable _oracleKey;
    address[3] internal strangers;
    uint256[3] internal strangerKeys;

    SignedReport[] internal _signed;

    // ---- ghosts ----
    /// @dev Last usage seen per agreement, period and meter.
    mapping(uint256 => mapping(uint256 => mapping(uint256 => uint64))) public lastUsage;
    /// @dev settledAt recorded when `settle` succeeded, and the earliest time it was allowed.
    mapping(uint256 => mapping(uint256 => uint256)) public ghostSettledAt;
    mapping(uint256 => mapping(uint256 => uint256)) public earliestSettle;
    mapping(uint256 => mapping(uint256 => PaymentStatus)) public lastStatus;
    uint256 public usageDecreasedWithoutCorrection;
    /// @dev Reports (direct or relayed) accepted although built on an earlier usage epoch or signed under an earlier
    ///      grant of the oracle role.
    uint256 public staleReportsAccepted;
    /// @dev Replays of a signed report that changed a usage figure.
    uint256 public replaysThatChangedUsage;
    uint256 public badTransitions;
    uint256 public unauthorizedSuccesses;
    /// @dev Calls the state forbids that succeeded: usage reports and settlement while paused, an arbiter's decision
    ///      inside the dispute window.
    uint256 public forbiddenSuccesses;
    uint256 public settledTooEarly;
    uint256 public calls;
    /// @dev Successful calls per action (and refusals the handler provoked on purpose), to show what a run
    ///      exercised.
    mapping(bytes32 => uint256) public successes;

    constructor(
        AgreementFactory factory_,
        MockToken mock_,
        BillingAgreement fiat,
        BillingAgreement tokenAgreement,
        address[6] memory roles,
        uint256 oracleKey_
    ) {
        factory = factory_;
        mock = mock_;
        agreements[0] = fiat;
        agreements[1] = tokenAgreement;
        (payer, payee, oracle, gateway, operator, admin) = (roles[0], roles[1], roles[2], roles[3], roles[4], roles[5]);
        _oracleKey = oracleKey_;
        for (uint256 i; i < 3; ++i) {
            (strangers[i], strangerKeys[i]) = makeAddrAndKey(string.concat("stranger ", vm.toString(i + 1)));
        }
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

    /// @dev A pseudo-random number below `n` from `seed` and a tag. Fuzzed arguments favour small and edge values,
    ///      so "sometimes" decisions are taken from a hash of the seed, not from its low bits.
    function _chance(uint256 seed, string memory tag, uint256 n) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, tag))) % n;
    }

    function signedCount() external view returns (uint256) {
        return _signed.length;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Actions: usage
    // ------------------------------------------------------------------------------------------------------------

    function warp(uint256 secondsAhead) external observe {
        vm.warp(block.timestamp + _bound(secondsAhead, 0, 20 days));
    }

    /// @dev The oracle reports a meter directly and another (or the same) meter by a signed report a stranger
    ///      relays (kept for replays), for the running period or, sometimes, the one before (late usage). One direct
    ///      report in eight names another usage epoch (built before a correction, or not yet valid) and must be
    ///      refused.
    function reportUsage(uint256 seed, uint256 meterSeed, uint64 amount, uint64 signedAmount) external observe {
        (uint256 i, BillingAgreement a) = _pick(seed);
        uint32 period = _reportPeriod(a, _chance(seed, "late", 8) == 0);
        _reportDirect(a, period, uint8(meterSeed % METERS), amount, seed);
        _signAndRelay(i, a, period, uint8((meterSeed >> 8) % METERS), signedAmount, seed);
    }

    function _reportDirect(BillingAgreement a, uint32 period, uint8 meter, uint64 amount, uint256 seed) internal {
        uint64 cumulative = a.usage(period, meter) + uint64(_bound(amount, 0, 5000));
        uint16 epoch = a.usageEpoch();
        bool stale = _chance(seed, "stale", 8) == 0;
        if (stale) epoch = epoch == 0 ? 1 : epoch - 1;
        vm.prank(oracle);
        try a.reportUsage(period, bytes32(seed), bytes32(0), epoch, _one(meter, cumulative)) {
            if (stale) ++staleReportsAccepted;
            else ++successes["report"];
        } catch {}
    }

    /// @dev The oracle signs a report on the current epoch and grant; a stranger relays it; kept for replays.
    function _signAndRelay(uint256 i, BillingAgreement a, uint32 period, uint8 meter, uint64 amount, uint256 seed)
        internal
        returns (bool relayed, SignedReport memory r)
    {
        r = _signNew(i, a, period, meter, amount, seed);
        vm.prank(strangers[seed % 3]);
        try a.reportUsageWithSignature(
            r.period, r.reportId, bytes32(0), r.epoch, r.signerSince, _one(r.meter, r.cumulative), r.signature
        ) {
            ++successes["relay"];
            _signed.push(r);
            relayed = true;
        } catch {}
    }

    function _signNew(uint256 i, BillingAgreement a, uint32 period, uint8 meter, uint64 amount, uint256 seed)
        internal
        view
        returns (SignedReport memory r)
    {
        r.agreement = i;
        r.period = period;
        r.reportId = keccak256(abi.encode("signed", seed, _signed.length));
        r.epoch = a.usageEpoch();
        r.signerSince = factory.oracleActiveFrom(oracle);
        r.meter = meter;
        r.cumulative = a.usage(period, meter) + uint64(_bound(amount, 1, 5000));
        bytes32 digest =
            a.usageReportDigest(period, r.reportId, bytes32(0), r.epoch, r.signerSince, _one(meter, r.cumulative));
        (uint8 v, bytes32 rr, bytes32 s) = vm.sign(_oracleKey, digest);
        r.signature = abi.encodePacked(rr, s, v);
    }

    /// @dev Anyone relays a signed report seen before. On the epoch and grant it was signed on, it changes nothing
    ///      (usage only increases); after a correction or a new grant it must be refused.
    function replaySigned(uint256 seed, uint256 caller) external observe {
        if (_signed.length == 0) return;
        _replay(_signed[seed % _signed.length], strangers[caller % 3]);
    }

    /// @dev The attack of issue 10, item 1, in every correction: the oracle reports the period and meter directly and
    ///      by a relayed signed report, corrects the figure (usually down), and the signed report is replayed: it
    ///      must be refused and the corrected figure stay. A report kept from earlier is replayed as well.
    function correctUsage(uint256 seed, uint256 meterSeed, uint64 corrected, uint256 replaySeed) external {
        ++calls;
        (uint256 i, BillingAgreement a) = _pick(seed);
        (uint32 period,,) = a.currentPeriod();
        uint8 meter = uint8(meterSeed % METERS);
        _reportDirect(a, period, meter, uint64(replaySeed), seed);
        (bool relayed, SignedReport memory before) = _signAndRelay(i, a, period, meter, 5000, seed);
        vm.prank(oracle);
        try a.correctUsage(period, meter, uint64(_bound(corrected, 0, 20_000)), bytes32(0), "fix") {
            lastUsage[i][period][meter] = a.usage(period, meter); // a correction may lower the figure
            ++successes["correct"];
            if (relayed) _replay(before, strangers[replaySeed % 3]);
            if (_signed.length != 0) _replay(_signed[replaySeed % _signed.length], strangers[replaySeed % 3]);
        } catch {}
        _sweep();
    }

    /// @dev The admin revokes and grants the oracle role again: reports signed under the earlier grant are dead.
    function regrantOracle() external observe {
        vm.startPrank(admin);
        factory.revokeRole(factory.ORACLE_ROLE(), oracle);
        factory.grantRole(factory.ORACLE_ROLE(), oracle);
        vm.stopPrank();
        ++successes["regrant"];
    }

    function _replay(SignedReport memory r, address relayer) internal {
        BillingAgreement a = agreements[r.agreement];
        bool current = r.epoch == a.usageEpoch() && r.signerSince == factory.oracleActiveFrom(oracle);
        uint64 before = a.usage(r.period, r.meter);
        vm.prank(relayer);
        try a.reportUsageWithSignature(
            r.period, r.reportId, bytes32(0), r.epoch, r.signerSince, _one(r.meter, r.cumulative), r.signature
        ) {
            if (!current) ++staleReportsAccepted;
            if (a.usage(r.period, r.meter) != before) ++replaysThatChangedUsage;
            ++successes["replay"];
        } catch (bytes memory err) {
            bytes4 selector = bytes4(err);
            if (
                selector == IBillingAgreement.BillingAgreement_StaleReport.selector
                    || selector == IBillingAgreement.BillingAgreement_StaleSignerGrant.selector
            ) ++successes["replayRefused"];
        }
    }

    /// @dev The running period, or the one before it (late usage within or after its grace window).
    function _reportPeriod(BillingAgreement a, bool previousPeriod) internal view returns (uint32) {
        (uint32 current,,) = a.currentPeriod();
        return previousPeriod && current > 0 ? current - 1 : current;
    }

    function _one(uint8 meter, uint64 cumulative) internal pure returns (MeterUsage[] memory u) {
        u = new MeterUsage[](1);
        u[0] = MeterUsage(meter, cumulative);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Actions: settlement and payment
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Settles the next period of an agreement, usually waiting until it may be settled, sometimes trying too
    ///      early (refused).
    function settleNext(uint256 seed, uint256 caller) external observe {
        (uint256 i,) = _pick(seed);
        _settleNext(i, _chance(seed, "early", 4) != 0, caller);
    }

    /// @dev Settles the next period of agreement `i` (resuming it if paused); with `wait`, first warps to when it may
    ///      be settled. Returns whether it settled.
    function _settleNext(uint256 i, bool wait, uint256 caller) internal returns (bool settled) {
        BillingAgreement a = agreements[i];
        if (wait) _resume(a);
        uint32 next = a.status().nextPeriodToSettle;
        (, uint40 end) = a.periodBounds(next);
        uint256 earliest = uint256(end) + 2 days;
        if (wait && block.timestamp < earliest) vm.warp(earliest + caller % 1 days);
        vm.prank(caller % 2 == 0 ? gateway : strangers[caller % 3]);
        try a.settle(next) {
            ghostSettledAt[i][next] = block.timestamp;
            earliestSettle[i][next] = earliest;
            if (block.timestamp < earliest) ++settledTooEarly;
            ++successes["settle"];
            settled = true;
        } catch {}
        // An action that settles before acting on the settlement is observed in between, like two actions.
        _sweep();
    }

    /// @dev The gateway confirms a bank payment on a fiat settlement with something open (settling the next period
    ///      first when none has).
    function confirmPayment(uint256 periodSeed, uint96 amount) external observe {
        BillingAgreement a = agreements[0];
        (bool found, uint32 period) = _openPeriod(a, periodSeed);
        if (!found) {
            if (!_settleNext(0, true, periodSeed)) return;
            (found, period) = _openPeriod(a, periodSeed);
            if (!found) return;
        }
        Settlement memory s = a.settlement(period);
        vm.prank(gateway);
        try a.confirmPayment(period, uint96(_bound(amount, 1, s.amount - s.paid)), bytes32(periodSeed)) {
            ++successes["confirm"];
        } catch {}
    }

    /// @dev A settled period with something open and not written off: the one `seed` picks, else the latest.
    function _openPeriod(BillingAgreement a, uint256 seed) internal view returns (bool found, uint32 period) {
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return (false, 0);
        period = uint32(seed % next);
        if (_isOpen(a.settlement(period))) return (true, period);
        for (uint32 p = next; p > 0; --p) {
            if (_isOpen(a.settlement(p - 1))) return (true, p - 1);
        }
    }

    function _isOpen(Settlement memory s) internal pure returns (bool) {
        return s.amount > s.paid && s.status != PaymentStatus.WrittenOff;
    }

    function reportReturn(uint256 periodSeed, uint96 amount) external observe {
        BillingAgreement a = agreements[0];
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        uint32 period = uint32(periodSeed % next);
        Settlement memory s = a.settlement(period);
        if (s.paid == 0) return;
        vm.prank(gateway);
        try a.reportReturn(period, uint96(_bound(amount, 1, s.paid)), "AM04", bytes32(0)) {
            ++successes["return"];
        } catch {}
    }

    function collect(uint256 periodSeed, uint256 allowance, bool feeOnTransfer) external observe {
        BillingAgreement a = agreements[1];
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        vm.prank(payer);
        mock.approve(address(a), _bound(allowance, 0, 10_000_000));
        mock.setMode(feeOnTransfer ? MockToken.Mode.Fee : MockToken.Mode.Normal);
        try a.collect(uint32(periodSeed % next)) returns (uint256 got) {
            if (got != 0) ++successes["collect"];
        } catch {}
        mock.setMode(MockToken.Mode.Normal);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Actions: disputes and write-offs
    // ------------------------------------------------------------------------------------------------------------

    /// @dev The payer disputes part or all of a settlement inside its dispute window: the latest one, or the next
    ///      period settled for it when the latest cannot be disputed (window closed, disputed, written off).
    function dispute(uint256 seed, uint96 amount) external observe {
        (uint256 i, BillingAgreement a) = _pick(seed);
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0 || !_disputable(a, next - 1)) {
            if (!_settleNext(i, true, seed)) return;
            next += 1;
        }
        uint32 period = next - 1;
        uint96 billed = a.settlement(period).amount;
        if (billed == 0) return;
        vm.prank(payer);
        try a.dispute(period, uint96(_bound(amount, 1, billed)), bytes32(seed)) {
            ++successes["dispute"];
        } catch {}
    }

    function _disputable(BillingAgreement a, uint32 period) internal view returns (bool) {
        Settlement memory s = a.settlement(period);
        return s.status != PaymentStatus.Disputed && s.status != PaymentStatus.WrittenOff
            && block.timestamp < uint256(s.settledAt) + DISPUTE_WINDOW;
    }

    function resolveDispute(uint256 seed, uint256 periodSeed, uint96 agreed) external observe {
        (, BillingAgreement a) = _pick(seed);
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        uint32 period = uint32(periodSeed % next);
        Settlement memory s = a.settlement(period);
        if (s.status != PaymentStatus.Disputed) return;
        uint96 amount = uint96(_bound(agreed, s.paid, s.amount));
        vm.prank(payer);
        try a.resolveDispute(period, amount) {} catch {}
        vm.prank(payee);
        try a.resolveDispute(period, amount) {
            ++successes["resolve"];
        } catch {}
    }

    /// @dev The operator (the terms name no arbiter) decides an open dispute, usually once the window has closed
    ///      (waiting for it), sometimes before (refused).
    function decideDispute(uint256 seed, uint256 periodSeed, uint96 agreed) external observe {
        (, BillingAgreement a) = _pick(seed);
        uint32 next = a.status().nextPeriodToSettle;
        if (next == 0) return;
        uint32 period = uint32(periodSeed % next);
        Settlement memory s = a.settlement(period);
        if (s.status != PaymentStatus.Disputed) return;
        uint256 closesAt = uint256(s.settledAt) + DISPUTE_WINDOW;
        if (_chance(seed, "wait", 4) != 0 && block.timestamp < closesAt) vm.warp(closesAt);
        uint96 lowest = s.amount - s.disputed > s.paid ? s.amount - s.disputed : s.paid;
        vm.prank(operator);
        try a.decideDispute(period, uint96(_bound(agreed, lowest, s.amount))) {
            if (block.timestamp < closesAt) ++forbiddenSuccesses; // decided inside the window
            ++successes["decide"];
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

    // ------------------------------------------------------------------------------------------------------------
    // Actions: lifecycle and roles
    // ------------------------------------------------------------------------------------------------------------

    /// @dev The payee pauses an agreement (or resumes a paused one); while paused, usage reports and settlement are
    ///      refused. Most pauses end in the same step, so the other actions mostly find both agreements running.
    function pauseOrResume(uint256 seed) external observe {
        (uint256 i, BillingAgreement a) = _pick(seed);
        if (a.state() == AgreementState.Paused) {
            _resume(a);
            return;
        }
        vm.prank(payee);
        try a.pause() {}
        catch {
            return;
        }
        ++successes["pause"];
        (uint32 current,,) = a.currentPeriod();
        uint16 epoch = a.usageEpoch();
        vm.prank(oracle);
        try a.reportUsage(current, bytes32(0), bytes32(0), epoch, _one(0, type(uint64).max)) {
            ++forbiddenSuccesses;
        } catch {}
        if (_settleNextWhilePaused(i)) ++forbiddenSuccesses;
        if (_chance(seed, "stay paused", 4) != 0) _resume(a);
    }

    function _settleNextWhilePaused(uint256 i) internal returns (bool) {
        BillingAgreement a = agreements[i];
        uint32 next = a.status().nextPeriodToSettle;
        try a.settle(next) {
            return true;
        } catch {
            return false;
        }
    }

    function _resume(BillingAgreement a) internal {
        if (a.state() != AgreementState.Paused) return;
        vm.prank(payee);
        a.resume();
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
        MeterUsage[] memory u = _one(0, type(uint64).max);
        uint16 epoch = a.usageEpoch();
        bytes memory data;
        uint256 k = what % 14;
        if (k == 0) data = abi.encodeCall(a.reportUsage, (period, bytes32(0), bytes32(0), epoch, u));
        else if (k == 1) data = abi.encodeCall(a.correctUsage, (period, 0, 0, bytes32(0), "x"));
        else if (k == 2) data = abi.encodeCall(a.confirmPayment, (period, amount == 0 ? 1 : amount, bytes32(0)));
        else if (k == 3) data = abi.encodeCall(a.reportReturn, (period, amount == 0 ? 1 : amount, "AM04", bytes32(0)));
        else if (k == 4) data = abi.encodeCall(a.dispute, (period, 1, bytes32(0)));
        else if (k == 5) data = abi.encodeCall(a.resolveDispute, (period, 0));
        else if (k == 6) data = abi.encodeCall(a.writeOff, (period));
        else if (k == 7) data = abi.encodeCall(a.setServiceStatus, (ServiceStatus.Suspended, bytes32(0)));
        else if (k == 8) data = abi.encodeCall(a.pause, ());
        else if (k == 9) data = abi.encodeCall(a.giveNotice, ());
        else if (k == 10) data = abi.encodeCall(a.terminateByConsent, (period + 2));
        else if (k == 11) data = abi.encodeCall(a.decideDispute, (period, amount));
        else if (k == 12) data = _strangerSignedReport(a, who % 3, period, epoch, u);
        else data = abi.encodeCall(a.initialize, ());
        vm.prank(caller);
        (bool ok,) = address(a).call(data);
        if (ok) ++unauthorizedSuccesses;
    }

    /// @dev A usage report signed by a stranger's key (no oracle role), on the current epoch.
    function _strangerSignedReport(BillingAgreement a, uint256 who, uint32 period, uint16 epoch, MeterUsage[] memory u)
        internal
        view
        returns (bytes memory)
    {
        uint40 since = factory.oracleActiveFrom(oracle);
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(strangerKeys[who], a.usageReportDigest(period, bytes32(0), bytes32(0), epoch, since, u));
        return abi.encodeCall(
            a.reportUsageWithSignature, (period, bytes32(0), bytes32(0), epoch, since, u, abi.encodePacked(r, s, v))
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Observation
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Compares every agreement's usage and payment status with the ghosts after each action: the payment status
    ///      of every settled period, the usage of every period from two before the next to settle up to the running
    ///      one (earlier periods are settled long since, and the contract refuses usage for settled periods; checking
    ///      them after every step would only slow the runs down).
    function _sweep() internal {
        for (uint256 i; i < 2; ++i) {
            BillingAgreement a = agreements[i];
            (uint32 current,,) = a.currentPeriod();
            uint256 next = a.status().nextPeriodToSettle;
            uint256 top = current + 1 < MAX_PERIODS ? current + 1 : MAX_PERIODS;
            for (uint256 p = next > 2 ? next - 2 : 0; p < top; ++p) {
                for (uint256 m; m < METERS; ++m) {
                    uint64 u = a.usage(uint32(p), uint8(m));
                    if (u < lastUsage[i][p][m]) ++usageDecreasedWithoutCorrection;
                    lastUsage[i][p][m] = u;
                }
            }
            for (uint256 p; p <= next && p < MAX_PERIODS; ++p) {
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
            // Due, or Paid at once: nothing owed, or a token pull (measured at the payer, so a fee-on-transfer
            // token pays in full).
            return to == PaymentStatus.Due || to == PaymentStatus.Paid;
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
