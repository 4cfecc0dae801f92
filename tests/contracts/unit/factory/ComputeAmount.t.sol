// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {IAgreementFactory} from "../../../../contracts/interfaces/IAgreementFactory.sol";
import {ITermsErrors} from "../../../../contracts/interfaces/ITermsErrors.sol";
import {Meter, PriceModel, Terms, Tier} from "../../../../contracts/types/BillingTypes.sol";

/// @notice Worked examples of the amount formula (docs/terms-encoding.md). Prices are in price units of
///         10^-(minorDigits + priceDecimals); with minorDigits 2 and priceDecimals 2 that is 0.0001 EUR.
contract ComputeAmountTest is BaseTest {
    function _one(uint64 u) internal pure returns (uint64[] memory usage) {
        usage = new uint64[](1);
        usage[0] = u;
    }

    function _withMeter(Meter memory m) internal pure returns (Terms memory t) {
        t = _baseTerms();
        t.meters = new Meter[](1);
        t.meters[0] = m;
    }

    function test_Graduated() public view {
        Terms memory t = _fiatTerms();
        assertEq(factory.computeAmount(t, _one(0)), 0);
        assertEq(factory.computeAmount(t, _one(1)), 100); // 1 × 1.00 EUR
        assertEq(factory.computeAmount(t, _one(1000)), 100_000); // 1000 × 1.00
        // 1000 × 1.00 + 500 × 0.80 = 1400.00 EUR
        assertEq(factory.computeAmount(t, _one(1500)), 140_000);
        // 1000 + 9000 × 0.80 + 5 × 0.50 = 8202.50 EUR
        assertEq(factory.computeAmount(t, _one(10_005)), 820_250);
    }

    function test_GraduatedFlatFeesAndIncluded() public view {
        Meter memory m = _graduatedMeter();
        m.included = 100;
        m.tiers[0].flatFee = 50_000; // 5.00 EUR once the first tier is reached
        m.tiers[1].flatFee = 20_000;
        Terms memory t = _withMeter(m);
        assertEq(factory.computeAmount(t, _one(100)), 0); // all included
        assertEq(factory.computeAmount(t, _one(101)), 100 + 500); // 1 unit + fee
        // billable 1100: 1000 × 1.00 + 5.00 + 100 × 0.80 + 2.00
        assertEq(factory.computeAmount(t, _one(1200)), 100_000 + 500 + 8000 + 200);
    }

    function test_Volume() public view {
        Meter memory m = _graduatedMeter();
        m.model = PriceModel.Volume;
        m.tiers[1].flatFee = 10_000;
        Terms memory t = _withMeter(m);
        assertEq(factory.computeAmount(t, _one(0)), 0);
        assertEq(factory.computeAmount(t, _one(1000)), 100_000); // all at 1.00
        assertEq(factory.computeAmount(t, _one(1001)), 80_080 + 100); // all at 0.80, plus 1.00 fee
        assertEq(factory.computeAmount(t, _one(20_000)), 1_000_000); // all at 0.50
    }

    function test_PerUnitHalfUpRounding() public view {
        Terms memory t = _withMeter(_perUnitMeter(1)); // 0.0001 EUR per unit
        assertEq(factory.computeAmount(t, _one(49)), 0); // 0.0049 → 0.00
        assertEq(factory.computeAmount(t, _one(50)), 1); // 0.0050 → 0.01 (half up)
        assertEq(factory.computeAmount(t, _one(149)), 1);
        assertEq(factory.computeAmount(t, _one(150)), 2);
    }

    function test_RoundsOnceOverAllMeters() public view {
        Terms memory t = _baseTerms();
        t.meters = new Meter[](2);
        t.meters[0] = _perUnitMeter(1);
        t.meters[1] = _perUnitMeter(1);
        uint64[] memory usage = new uint64[](2);
        usage[0] = 30;
        usage[1] = 30;
        // Each alone rounds to 0.00; together 0.0060 rounds to 0.01.
        assertEq(factory.computeAmount(t, usage), 1);
    }

    function test_ZeroPriceDecimalsNoRounding() public view {
        Terms memory t = _withMeter(_perUnitMeter(7));
        t.priceDecimals = 0;
        assertEq(factory.computeAmount(t, _one(3)), 21);
    }

    function test_Flat() public view {
        Terms memory t = _withMeter(_flatMeter(990_000)); // 99.00 EUR
        assertEq(factory.computeAmount(t, _one(0)), 9900);
        assertEq(factory.computeAmount(t, _one(123)), 9900);
    }

    function test_Package() public view {
        Meter memory m;
        m.model = PriceModel.Package;
        m.packageSize = 100;
        m.price = 20_000; // 2.00 EUR per 100 units
        m.included = 10;
        Terms memory t = _withMeter(m);
        assertEq(factory.computeAmount(t, _one(10)), 0);
        assertEq(factory.computeAmount(t, _one(11)), 200);
        assertEq(factory.computeAmount(t, _one(110)), 200);
        assertEq(factory.computeAmount(t, _one(111)), 400);
    }

    function test_MinimumAndCap() public view {
        Terms memory t = _fiatTerms();
        t.minimumCommitment = 50_000;
        t.cap = 200_000;
        assertEq(factory.computeAmount(t, _one(0)), 50_000);
        assertEq(factory.computeAmount(t, _one(1500)), 140_000);
        assertEq(factory.computeAmount(t, _one(5000)), 200_000);
    }

    function test_NearTypeLimits() public {
        // Changed with issue 10 (item 10): without a cap such terms are refused (they used to be priced above 96
        // bits here and fail in `settle`); the error names the largest amount they could produce.
        Meter memory m = _perUnitMeter(type(uint96).max);
        Terms memory t = _withMeter(m);
        t.priceDecimals = 0;
        uint256 most = uint256(type(uint64).max) * type(uint96).max;
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most));
        factory.computeAmount(t, _one(type(uint64).max));
        t.cap = type(uint96).max;
        assertEq(factory.computeAmount(t, _one(type(uint64).max)), type(uint96).max);
        assertEq(factory.computeAmount(t, _one(1)), type(uint96).max);
        assertEq(factory.computeAmount(t, _one(0)), 0);
    }

    function test_CapRequiredFromOneUnitAboveTheLimit() public {
        // A flat 2^96 - 1 is the most a period may come to without a cap.
        Terms memory t = _withMeter(_flatMeter(type(uint96).max));
        t.priceDecimals = 0;
        assertEq(factory.computeAmount(t, _one(0)), type(uint96).max);
        // One billable unit more at 1 (usage 2^64 - 1 with 2^64 - 2 included) is one too many.
        t.meters = new Meter[](2);
        t.meters[0] = _flatMeter(type(uint96).max);
        t.meters[1] = _perUnitMeter(1);
        t.meters[1].included = type(uint64).max - 1;
        uint64[] memory usage = new uint64[](2);
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, uint256(1) << 96));
        factory.computeAmount(t, usage);
    }

    function test_CapRequiredCountsTheRounding() public {
        // In tenths (priceDecimals 1) the most is rounded half up like an amount: 10 × 2^96 − 5 tenths round up to
        // 2^96, one tenth less rounds down to 2^96 − 1.
        Terms memory t = _baseTerms();
        t.priceDecimals = 1;
        t.meters = new Meter[](2);
        t.meters[0] = _perUnitMeter(uint96(5) << 33); // × (2^64 − 1) units = 5 × 2^97 − 5 × 2^33
        t.meters[1] = _flatMeter((uint96(5) << 33) - 5);
        uint64[] memory usage = new uint64[](2);
        usage[0] = type(uint64).max;
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, uint256(1) << 96));
        factory.computeAmount(t, usage);
        t.meters[1] = _flatMeter((uint96(5) << 33) - 6);
        assertEq(factory.computeAmount(t, usage), type(uint96).max);
    }

    function test_MinimumAtTheLimitNeedsNoCap() public view {
        Terms memory t = _fiatTerms();
        t.minimumCommitment = type(uint96).max;
        assertEq(factory.computeAmount(t, _one(0)), type(uint96).max);
        assertEq(factory.computeAmount(t, _one(1500)), type(uint96).max);
    }

    function test_VolumeMostMayLieBelowTheLastTier() public {
        // Volume prices all units at the tier the total reaches, so a cheaper last tier can charge less: the most
        // is at the top of the expensive tier (2^63 units at 2^40), not at 2^64 - 1 units at 1.
        Meter memory m;
        m.model = PriceModel.Volume;
        m.tiers = new Tier[](2);
        m.tiers[0] = Tier({upTo: uint64(1) << 63, unitPrice: uint96(1) << 40, flatFee: 0});
        m.tiers[1] = Tier({upTo: type(uint64).max, unitPrice: 1, flatFee: 0});
        Terms memory t = _withMeter(m);
        t.priceDecimals = 0;
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, uint256(1) << 103));
        factory.computeAmount(t, _one(1));
        // With a cheap first tier the most is the top of the last one.
        m.tiers[0].unitPrice = 1;
        m.tiers[1].unitPrice = uint96(1) << 33;
        t = _withMeter(m);
        t.priceDecimals = 0;
        vm.expectRevert(
            abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, uint256(type(uint64).max) << 33)
        );
        factory.computeAmount(t, _one(1));
        m.tiers[1].unitPrice = uint96(1) << 32; // 2^96 − 2^32: fits
        t = _withMeter(m);
        t.priceDecimals = 0;
        assertEq(factory.computeAmount(t, _one(type(uint64).max)), uint256(type(uint64).max) << 32);
    }

    function test_RevertWhen_UsageLengthDiffers() public {
        Terms memory t = _fiatTerms();
        vm.expectRevert(abi.encodeWithSelector(IAgreementFactory.AgreementFactory_UsageLengthMismatch.selector, 2, 1));
        factory.computeAmount(t, new uint64[](2));
    }

    function test_RevertWhen_TermsInvalid() public {
        Terms memory t = _fiatTerms();
        t.interval = 0;
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_InvalidInterval.selector, uint8(0), uint32(0)));
        factory.computeAmount(t, _one(1));
    }
}
