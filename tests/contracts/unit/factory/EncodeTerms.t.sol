// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {ITermsErrors} from "../../../../contracts/interfaces/ITermsErrors.sol";
import {IntervalKind, Meter, PriceModel, Terms, Tier} from "../../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(unsafe-typecast)
/// @notice encodeTerms: the packed layout of docs/terms-encoding.md and every validation rule.
contract EncodeTermsTest is BaseTest {
    /// @dev The layout spelled out field by field with abi.encodePacked (an independent packing).
    function _expected(Terms memory t) internal pure returns (bytes memory b) {
        b = abi.encodePacked(
            t.token, t.currency, t.minorDigits, t.priceDecimals, uint8(t.intervalKind), t.interval, t.start, t.end
        );
        b = abi.encodePacked(
            b,
            t.noticeSeconds,
            t.paymentTermsDays,
            t.graceSeconds,
            t.disputeWindowSeconds,
            t.minimumCommitment,
            t.cap,
            t.arbiter == address(0) ? uint8(0) : uint8(1),
            uint8(t.meters.length)
        );
        b = abi.encodePacked(b, uint8(t.vatCategory), t.vatRate);
        for (uint256 i; i < t.meters.length; ++i) {
            Meter memory m = t.meters[i];
            b = abi.encodePacked(b, uint8(m.model), m.included);
            if (m.model == PriceModel.Graduated || m.model == PriceModel.Volume) {
                b = abi.encodePacked(b, uint8(m.tiers.length));
                for (uint256 j; j < m.tiers.length; ++j) {
                    b = abi.encodePacked(b, m.tiers[j].upTo, m.tiers[j].unitPrice, m.tiers[j].flatFee);
                }
            } else if (m.model == PriceModel.Package) {
                b = abi.encodePacked(b, m.packageSize, m.price);
            } else {
                b = abi.encodePacked(b, m.price);
            }
        }
        if (t.arbiter != address(0)) b = abi.encodePacked(b, t.arbiter);
    }

    function _allModels() internal view returns (Terms memory t) {
        t = _baseTerms();
        t.token = address(token);
        t.end = START + 365 days; // 2026-01-01: twelve monthly periods
        t.minimumCommitment = 1000;
        t.cap = 5_000_000;
        t.meters = new Meter[](5);
        t.meters[0] = _flatMeter(990_000);
        t.meters[1] = _perUnitMeter(25);
        t.meters[1].included = 1000;
        t.meters[2] = _graduatedMeter();
        t.meters[3] = _graduatedMeter();
        t.meters[3].model = PriceModel.Volume;
        t.meters[3].tiers[1].flatFee = 7;
        t.meters[4].model = PriceModel.Package;
        t.meters[4].packageSize = 500;
        t.meters[4].price = 123_456;
    }

    function test_GoldenVector() public view {
        // One graduated meter with three tiers, byte by byte (docs/terms-encoding.md, "Layout").
        (bytes memory packed, bytes32 h) = factory.encodeTerms(_fiatTerms());
        bytes memory golden = bytes.concat(
            hex"0000000000000000000000000000000000000000", // token: fiat
            hex"455552", // "EUR"
            hex"02", // minorDigits
            hex"02", // priceDecimals
            hex"00", // CalendarMonth
            hex"00000001", // 1 month
            hex"0067748580", // start 1735689600
            hex"0000000000", // end: open
            hex"00278d00", // notice 30 days
            hex"000e", // 14 payment days
            hex"0002a300", // grace 2 days
            hex"00278d00", // dispute window 30 days
            hex"000000000000000000000000", // minimum
            hex"000000000000000000000000", // cap
            hex"00", // arbiterKind: an operator decides disputes (no arbiter address follows the meters)
            hex"01", // one meter
            hex"06", // VAT category: OutsideScope
            hex"0000", // VAT rate 0
            hex"02", // Graduated
            hex"0000000000000000", // included
            hex"03", // three tiers
            hex"00000000000003e8" hex"000000000000000000002710" hex"000000000000000000000000",
            hex"0000000000002710" hex"000000000000000000001f40" hex"000000000000000000000000",
            hex"ffffffffffffffff" hex"000000000000000000001388" hex"000000000000000000000000"
        );
        assertEq(packed.length, 83 + 9 + 1 + 3 * 32);
        assertEq(packed, golden);
        assertEq(h, keccak256(golden));
    }

    function test_AllModelsMatchLayout() public view {
        Terms memory t = _allModels();
        (bytes memory packed, bytes32 h) = factory.encodeTerms(t);
        assertEq(packed, _expected(t));
        assertEq(h, keccak256(packed));
    }

    function test_NamedArbiterFollowsTheMeters() public view {
        Terms memory t = _fiatTerms();
        t.arbiter = address(0xA4B1);
        (bytes memory packed, bytes32 h) = factory.encodeTerms(t);
        (bytes memory plain,) = factory.encodeTerms(_fiatTerms());
        assertEq(packed.length, plain.length + 20);
        assertEq(uint8(packed[78]), 1); // arbiterKind: named
        assertEq(uint8(packed[79]), 1); // one meter
        // The same bytes as without an arbiter, but arbiterKind 1 and the address after the meter records.
        plain[78] = 0x01;
        assertEq(packed, bytes.concat(plain, bytes20(address(0xA4B1))));
        assertEq(packed, _expected(t));
        assertTrue(h != _hash(_fiatTerms()));
    }

    function test_DecodesBackWithArbiter() public {
        Terms memory t = _allModels();
        t.arbiter = makeAddr("arbiter");
        vm.prank(operator);
        address a = factory.createAgreement(payer, payee, t, bytes32(0));
        (Terms memory back,) = _agreement(a).terms();
        assertEq(back.arbiter, t.arbiter);
        assertEq(keccak256(abi.encode(back)), keccak256(abi.encode(t)));
    }

    function test_DecodesBack() public {
        Terms memory t = _allModels();
        vm.prank(operator);
        address a = factory.createAgreement(payer, payee, t, bytes32(0));
        (Terms memory back,) = _agreement(a).terms();
        assertEq(keccak256(abi.encode(back)), keccak256(abi.encode(t)));
    }

    function test_FixedSecondsAndBoundaryEnd() public view {
        Terms memory t = _fiatTerms();
        t.intervalKind = IntervalKind.FixedSeconds;
        t.interval = 7 days;
        t.end = START + 4 weeks;
        factory.encodeTerms(t);
    }

    function test_MaximumSize() public view {
        Terms memory t = _baseTerms();
        t.meters = new Meter[](8);
        for (uint256 i; i < 8; ++i) {
            t.meters[i].model = PriceModel.Volume;
            t.meters[i].tiers = new Tier[](8);
            for (uint256 j; j < 8; ++j) {
                t.meters[i].tiers[j] = Tier(uint64(j == 7 ? type(uint64).max : (j + 1) * 10), uint96(j), uint96(i));
            }
        }
        (bytes memory packed,) = factory.encodeTerms(t);
        assertEq(packed.length, 83 + 8 * (10 + 8 * 32));
        assertEq(packed, _expected(t));
    }

    // ---- header ----

    function _expectTerms(Terms memory t, bytes memory err) internal {
        vm.expectRevert(err);
        factory.encodeTerms(t);
    }

    function test_RevertWhen_CurrencyLowerCase() public {
        Terms memory t = _fiatTerms();
        t.currency = "EuR";
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3("EuR")));
    }

    function test_RevertWhen_CurrencyEmpty() public {
        Terms memory t = _fiatTerms();
        t.currency = bytes3(0);
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3(0)));
    }

    function test_RevertWhen_CurrencyHasDigitOrSymbol() public {
        Terms memory t = _fiatTerms();
        t.currency = "US1";
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3("US1")));
        t.currency = "[AB";
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3("[AB")));
        t.currency = "@AB";
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3("@AB")));
    }

    function test_RevertWhen_MinorDigitsAbove18() public {
        Terms memory t = _fiatTerms();
        t.minorDigits = 19;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidDigits.selector, uint8(19), uint8(2)));
    }

    function test_RevertWhen_PriceDecimalsAbove18() public {
        Terms memory t = _fiatTerms();
        t.priceDecimals = 19;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidDigits.selector, uint8(2), uint8(19)));
    }

    function test_DigitsAt18() public view {
        Terms memory t = _fiatTerms();
        t.minorDigits = 18;
        t.priceDecimals = 18;
        factory.encodeTerms(t);
    }

    function test_RevertWhen_MonthsZero() public {
        Terms memory t = _fiatTerms();
        t.interval = 0;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidInterval.selector, uint8(0), uint32(0)));
    }

    function test_RevertWhen_MonthsAbove12() public {
        Terms memory t = _fiatTerms();
        t.interval = 13;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidInterval.selector, uint8(0), uint32(13)));
    }

    function test_RevertWhen_SecondsBelowOneHour() public {
        Terms memory t = _fiatTerms();
        t.intervalKind = IntervalKind.FixedSeconds;
        t.interval = 3599;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidInterval.selector, uint8(1), uint32(3599)));
    }

    function test_RevertWhen_StartZero() public {
        Terms memory t = _fiatTerms();
        t.start = 0;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_ZeroStart.selector));
    }

    function test_RevertWhen_EndBeforeStart() public {
        Terms memory t = _fiatTerms();
        t.end = START - 1;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_EndNotOnBoundary.selector, uint40(START - 1)));
        t.end = START;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_EndNotOnBoundary.selector, uint40(START)));
    }

    function test_RevertWhen_EndNotOnBoundary() public {
        Terms memory t = _fiatTerms();
        t.end = START + 31 days + 1; // one second after 2025-02-01
        _expectTerms(
            t, abi.encodeWithSelector(ITermsErrors.Terms_EndNotOnBoundary.selector, uint40(START + 31 days + 1))
        );
    }

    function test_RevertWhen_CapBelowMinimum() public {
        Terms memory t = _fiatTerms();
        t.minimumCommitment = 10;
        t.cap = 9;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_CapBelowMinimum.selector, uint96(9), uint96(10)));
    }

    // ---- meters ----

    function test_RevertWhen_NoMeters() public {
        Terms memory t = _baseTerms();
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_NoMeters.selector));
    }

    function test_RevertWhen_TooManyMeters() public {
        Terms memory t = _baseTerms();
        t.meters = new Meter[](9);
        for (uint256 i; i < 9; ++i) {
            t.meters[i] = _flatMeter(1);
        }
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_TooManyMeters.selector, 9, 8));
    }

    function test_RevertWhen_FlatHasIncluded() public {
        Terms memory t = _fiatTerms();
        t.meters[0] = _flatMeter(1);
        t.meters[0].included = 5;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_UnusedFieldSet.selector, 0, "included"));
    }

    function test_RevertWhen_TieredHasPrice() public {
        Terms memory t = _fiatTerms();
        t.meters[0].price = 1;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_UnusedFieldSet.selector, 0, "price"));
    }

    function test_RevertWhen_PackageSizeSetOutsidePackage() public {
        Terms memory t = _fiatTerms();
        t.meters[0] = _perUnitMeter(1);
        t.meters[0].packageSize = 10;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_UnusedFieldSet.selector, 0, "packageSize"));
    }

    function test_RevertWhen_TiersOutsideTieredModel() public {
        Terms memory t = _fiatTerms();
        t.meters = new Meter[](2);
        t.meters[0] = _flatMeter(1);
        t.meters[1] = _perUnitMeter(1);
        t.meters[1].tiers = _tiers3();
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_UnusedFieldSet.selector, 1, "tiers"));
    }

    function test_RevertWhen_PackageSizeZero() public {
        Terms memory t = _fiatTerms();
        t.meters[0].model = PriceModel.Package;
        t.meters[0].tiers = new Tier[](0);
        t.meters[0].price = 5;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_ZeroPackageSize.selector, 0));
    }

    function test_RevertWhen_NoTiers() public {
        Terms memory t = _fiatTerms();
        t.meters[0].tiers = new Tier[](0);
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_NoTiers.selector, 0));
    }

    function test_RevertWhen_TooManyTiers() public {
        Terms memory t = _fiatTerms();
        t.meters[0].tiers = new Tier[](9);
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_TooManyTiers.selector, 0, 9, 8));
    }

    function test_RevertWhen_TiersNotAscending() public {
        Terms memory t = _fiatTerms();
        t.meters[0].tiers[1].upTo = 1000;
        _expectTerms(
            t, abi.encodeWithSelector(ITermsErrors.Terms_TiersNotAscending.selector, 0, 1, uint64(1000), uint64(1000))
        );
        t.meters[0].tiers[1].upTo = 999;
        _expectTerms(
            t, abi.encodeWithSelector(ITermsErrors.Terms_TiersNotAscending.selector, 0, 1, uint64(999), uint64(1000))
        );
    }

    function test_RevertWhen_LastTierBounded() public {
        Terms memory t = _fiatTerms();
        t.meters[0].tiers[2].upTo = 1e9;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_LastTierBounded.selector, 0, uint64(1e9)));
    }

    function test_FirstInvalidFieldIsReported() public {
        // Two problems: the currency (header) is reported before the meter.
        Terms memory t = _fiatTerms();
        t.currency = "X";
        t.meters[0].price = 1;
        _expectTerms(t, abi.encodeWithSelector(ITermsErrors.Terms_InvalidCurrency.selector, bytes3("X")));
    }

    // ---- malformed ABI encodings (hand-made call data) ----

    function _call(bytes memory data) internal view returns (bool ok, bytes memory ret) {
        (ok, ret) = address(factory).staticcall(data);
    }

    function test_RevertWhen_ValueDoesNotFitType() public view {
        bytes memory data = abi.encodeCall(factory.encodeTerms, (_fiatTerms()));
        // Head word 2 (minorDigits) of the struct, which starts at 4 + 32: set a bit above uint8.
        assembly {
            let w := add(add(data, 0x20), add(4, add(0x20, 0x40)))
            mstore(w, 0x100)
        }
        (bool ok, bytes memory ret) = _call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ITermsErrors.Terms_MalformedEncoding.selector));
    }

    function test_RevertWhen_MeterOutsideCallData() public view {
        bytes memory data = abi.encodeCall(factory.encodeTerms, (_fiatTerms()));
        // Cut the call data inside the first meter.
        assembly {
            mstore(data, sub(mload(data), 0x180))
        }
        (bool ok, bytes memory ret) = _call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ITermsErrors.Terms_MalformedEncoding.selector));
    }

    function test_RevertWhen_MetersOffsetOutsideCallData() public view {
        bytes memory data = abi.encodeCall(factory.encodeTerms, (_fiatTerms()));
        // Head word 17 of the struct is the offset of the meters array: point it past the end.
        assembly {
            mstore(add(add(data, 0x20), add(4, add(0x20, mul(17, 0x20)))), 0x100000)
        }
        (bool ok, bytes memory ret) = _call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ITermsErrors.Terms_MalformedEncoding.selector));
    }

    function test_RevertWhen_ArbiterDoesNotFitAddress() public view {
        Terms memory t = _fiatTerms();
        t.arbiter = address(0xA4B1);
        bytes memory data = abi.encodeCall(factory.encodeTerms, (t));
        // Head word 16 of the struct is the arbiter: set a bit above 160.
        assembly {
            let w := add(add(data, 0x20), add(4, add(0x20, mul(16, 0x20))))
            mstore(w, or(mload(w), shl(160, 1)))
        }
        (bool ok, bytes memory ret) = _call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ITermsErrors.Terms_MalformedEncoding.selector));
    }

    function test_RevertWhen_VatCategoryNotAnEnumValue() public view {
        bytes memory data = abi.encodeCall(factory.encodeTerms, (_fiatTerms()));
        // Head word 14 of the struct is the VAT category: 7 is past OutsideScope (6).
        assembly {
            mstore(add(add(data, 0x20), add(4, add(0x20, mul(14, 0x20)))), 7)
        }
        (bool ok, bytes memory ret) = _call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ITermsErrors.Terms_MalformedEncoding.selector));
    }

    function test_RevertWhen_VatRateDoesNotFitUint16() public view {
        bytes memory data = abi.encodeCall(factory.encodeTerms, (_fiatTerms()));
        // Head word 15 of the struct is the VAT rate: set a bit above 16.
        assembly {
            mstore(add(add(data, 0x20), add(4, add(0x20, mul(15, 0x20)))), shl(16, 1))
        }
        (bool ok, bytes memory ret) = _call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ITermsErrors.Terms_MalformedEncoding.selector));
    }

    function test_RevertWhen_TierValueDoesNotFitType() public view {
        bytes memory data = abi.encodeCall(factory.encodeTerms, (_fiatTerms()));
        // The last tier's flatFee is the last word: give it a bit above uint96.
        assembly {
            let w := add(add(data, 0x20), sub(mload(data), 0x20))
            mstore(w, shl(96, 1))
        }
        (bool ok, bytes memory ret) = _call(data);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(ITermsErrors.Terms_MalformedEncoding.selector));
    }
}
// forge-lint: disable-end(unsafe-typecast)
