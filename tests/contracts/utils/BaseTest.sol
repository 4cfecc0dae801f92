// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";

import {AgreementFactory} from "../../../contracts/AgreementFactory.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {IAgreementFactory} from "../../../contracts/interfaces/IAgreementFactory.sol";
import {IBillingAgreement} from "../../../contracts/interfaces/IBillingAgreement.sol";
import {ITermsErrors} from "../../../contracts/interfaces/ITermsErrors.sol";
import {MockToken} from "../../../contracts/mocks/MockToken.sol";
import {TestToken} from "../../../contracts/mocks/TestToken.sol";
import {
    AgreementState,
    IntervalKind,
    Meter,
    MeterUsage,
    PaymentStatus,
    PriceModel,
    ServiceStatus,
    Settlement,
    Terms,
    VatCategory,
    Tier
} from "../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - block-timestamp: tests compare against block time on purpose.
// forge-lint: disable-start(block-timestamp)
/// @notice Shared fixture: a factory with every role handed out, an allow-listed 2-decimal token, parties with
///         keys (for EIP-712), and builders for terms and agreements.
abstract contract BaseTest is Test {
    /// @dev 2025-01-01T00:00:00Z.
    uint40 internal constant START = 1_735_689_600;
    uint32 internal constant GRACE = 2 days;
    uint16 internal constant PAYMENT_DAYS = 14;
    uint32 internal constant DISPUTE_WINDOW = 30 days;
    uint32 internal constant NOTICE = 30 days;

    bytes32 internal constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");
    bytes32 internal constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    bytes32 internal constant GATEWAY_ROLE = keccak256("GATEWAY_ROLE");

    AgreementFactory internal factory;
    TestToken internal token;

    address internal admin = makeAddr("admin");
    address internal operator = makeAddr("operator");
    address internal gateway = makeAddr("gateway");
    address internal stranger = makeAddr("stranger");
    address internal oracle;
    uint256 internal oracleKey;
    address internal payer;
    uint256 internal payerKey;
    address internal payee;
    uint256 internal payeeKey;

    function setUp() public virtual {
        vm.warp(START - 10 days);
        (oracle, oracleKey) = makeAddrAndKey("oracle");
        (payer, payerKey) = makeAddrAndKey("payer");
        (payee, payeeKey) = makeAddrAndKey("payee");

        factory = new AgreementFactory(admin);
        token = new TestToken("Euro Test Token", "EURT", 2);

        vm.startPrank(admin);
        factory.grantRole(OPERATOR_ROLE, operator);
        factory.grantRole(GATEWAY_ROLE, gateway);
        factory.grantRole(ORACLE_ROLE, oracle);
        factory.setTokenAllowed(address(token), true);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------------------------------------------------
    // Terms builders
    // ------------------------------------------------------------------------------------------------------------

    /// @dev Graduated: units 1-1000 at 1.00 EUR, 1001-10000 at 0.80, above at 0.50 (minorDigits 2 and
    ///      priceDecimals 2: a price unit is 0.0001 EUR, so 1.00 EUR = 10,000 price units).
    function _tiers3() internal pure returns (Tier[] memory tiers) {
        tiers = new Tier[](3);
        tiers[0] = Tier({upTo: 1000, unitPrice: 10_000, flatFee: 0});
        tiers[1] = Tier({upTo: 10_000, unitPrice: 8000, flatFee: 0});
        tiers[2] = Tier({upTo: type(uint64).max, unitPrice: 5000, flatFee: 0});
    }

    function _graduatedMeter() internal pure returns (Meter memory m) {
        m.model = PriceModel.Graduated;
        m.tiers = _tiers3();
    }

    function _perUnitMeter(uint96 price) internal pure returns (Meter memory m) {
        m.model = PriceModel.PerUnit;
        m.price = price;
    }

    function _flatMeter(uint96 price) internal pure returns (Meter memory m) {
        m.model = PriceModel.Flat;
        m.price = price;
    }

    function _baseTerms() internal pure returns (Terms memory t) {
        t.currency = "EUR";
        t.minorDigits = 2;
        t.priceDecimals = 2;
        t.intervalKind = IntervalKind.CalendarMonth;
        t.interval = 1;
        t.start = START;
        t.noticeSeconds = NOTICE;
        t.paymentTermsDays = PAYMENT_DAYS;
        t.graceSeconds = GRACE;
        t.disputeWindowSeconds = DISPUTE_WINDOW;
        // No VAT unless a test sets it (amounts net = gross); VAT tests set Standard and a rate.
        t.vatCategory = VatCategory.OutsideScope;
    }

    /// @dev Fiat, monthly, one graduated meter with three tiers.
    function _fiatTerms() internal pure returns (Terms memory t) {
        t = _baseTerms();
        t.meters = new Meter[](1);
        t.meters[0] = _graduatedMeter();
    }

    /// @dev Fiat, monthly, three graduated meters.
    function _fiatTerms3() internal pure returns (Terms memory t) {
        t = _baseTerms();
        t.meters = new Meter[](3);
        t.meters[0] = _graduatedMeter();
        t.meters[1] = _graduatedMeter();
        t.meters[2] = _graduatedMeter();
    }

    /// @dev Same as `_fiatTerms` in the test token.
    function _tokenTerms() internal view returns (Terms memory t) {
        t = _fiatTerms();
        t.token = address(token);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Agreement builders and actions
    // ------------------------------------------------------------------------------------------------------------

    function _create(Terms memory t) internal returns (BillingAgreement) {
        return _create(t, bytes32(0));
    }

    function _create(Terms memory t, bytes32 salt) internal returns (BillingAgreement) {
        vm.prank(operator);
        return BillingAgreement(factory.createAgreement(payer, payee, t, salt));
    }

    function _agreement(address a) internal pure returns (BillingAgreement) {
        return BillingAgreement(a);
    }

    function _hash(Terms memory t) internal view returns (bytes32 h) {
        (, h) = factory.encodeTerms(t);
    }

    function _activate(BillingAgreement a, Terms memory t) internal {
        bytes32 h = _hash(t);
        vm.prank(payer);
        a.accept(1, h);
        vm.prank(payee);
        a.accept(1, h);
    }

    function _createActive(Terms memory t) internal returns (BillingAgreement a) {
        a = _create(t);
        _activate(a, t);
    }

    function _usage(uint8 meter, uint64 cumulative) internal pure returns (MeterUsage[] memory u) {
        u = new MeterUsage[](1);
        u[0] = MeterUsage(meter, cumulative);
    }

    /// @dev Reports `cumulative` for one meter as the oracle, on the agreement's current usage epoch.
    function _report(BillingAgreement a, uint32 period, uint8 meter, uint64 cumulative) internal {
        uint16 epoch = a.usageEpoch(); // read before the prank: a view call would use it up
        vm.prank(oracle);
        a.reportUsage(
            period,
            keccak256(abi.encode(period, meter, cumulative)),
            bytes32(uint256(1)),
            epoch,
            _usage(meter, cumulative)
        );
    }

    /// @dev Warps to the first moment `period` of `a` can be settled.
    function _warpToSettle(BillingAgreement a, uint32 period) internal {
        (, uint40 end) = a.periodBounds(period);
        vm.warp(uint256(end) + GRACE);
    }

    /// @dev Reports, waits and settles `period`; returns the amount.
    function _settleWith(BillingAgreement a, uint32 period, uint64 cumulative) internal returns (uint256) {
        (uint40 start,) = a.periodBounds(period);
        if (block.timestamp < start) vm.warp(start);
        if (cumulative != 0) _report(a, period, 0, cumulative);
        _warpToSettle(a, period);
        return a.settle(period);
    }

    /// @dev Payer proposes `t` as an amendment and payee accepts it; returns the version. (Hashed as an amendment
    ///      keeping `t.token`, so a token removed from the allow-list since creation still works.)
    function _amend(BillingAgreement a, Terms memory t) internal returns (uint16 version) {
        (, bytes32 h) = factory.encodeAmendmentTerms(t.token, t);
        vm.prank(payer);
        version = a.proposeAmendment(t);
        vm.prank(payee);
        a.accept(version, h);
    }

    /// @dev A token agreement in a fresh MockToken (2 decimals), allow-listed, active, with the payer funded and
    ///      the agreement approved.
    function _mockTokenAgreement() internal returns (BillingAgreement a, MockToken mock) {
        mock = new MockToken(2);
        vm.prank(admin);
        factory.setTokenAllowed(address(mock), true);
        Terms memory t = _fiatTerms();
        t.token = address(mock);
        a = _createActive(t);
        mock.mint(payer, 1e12);
        vm.prank(payer);
        mock.approve(address(a), type(uint256).max);
    }

    /// @dev `key`'s signature accepting `version` for the party whose key it is.
    function _signAccept(BillingAgreement a, uint256 key, uint16 version, bytes32 h, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        return _signAcceptFor(a, key, vm.addr(key), version, h, deadline);
    }

    /// @dev `key`'s signature of the acceptance digest of `party` (a contract wallet's owner signs for it).
    function _signAcceptFor(BillingAgreement a, uint256 key, address party, uint16 version, bytes32 h, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, a.acceptDigest(party, version, h, deadline));
        return abi.encodePacked(r, s, v);
    }

    /// @dev `key`'s signature of a usage report on the agreement's current usage epoch, under the key's current
    ///      oracle grant.
    function _signReport(
        BillingAgreement a,
        uint256 key,
        uint32 period,
        bytes32 id,
        bytes32 root,
        MeterUsage[] memory u
    ) internal view returns (bytes memory) {
        return _sign(key, _currentReportDigest(a, vm.addr(key), period, id, root, u));
    }

    /// @dev The digest of a usage report on the agreement's current epoch under `signer`'s current grant.
    function _currentReportDigest(
        BillingAgreement a,
        address signer,
        uint32 period,
        bytes32 id,
        bytes32 root,
        MeterUsage[] memory u
    ) internal view returns (bytes32) {
        uint16 epoch = a.usageEpoch();
        return a.usageReportDigest(period, id, root, epoch, factory.oracleActiveFrom(signer), u);
    }

    /// @dev `key`'s signature of a usage report naming `epoch` and `signerSince`.
    function _signReportAt(
        BillingAgreement a,
        uint256 key,
        uint32 period,
        bytes32 id,
        bytes32 root,
        uint16 epoch,
        uint40 signerSince,
        MeterUsage[] memory u
    ) internal view returns (bytes memory) {
        return _sign(key, a.usageReportDigest(period, id, root, epoch, signerSince, u));
    }

    /// @dev `key`'s signature of `digest` as r ‖ s ‖ v.
    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }
}
// forge-lint: disable-end(block-timestamp)
