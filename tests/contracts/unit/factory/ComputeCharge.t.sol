// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {ITermsErrors} from "../../../../contracts/interfaces/ITermsErrors.sol";
import {Meter, Terms, VatCategory} from "../../../../contracts/types/BillingTypes.sol";

/// @notice computeCharge and the VAT rules of the terms: net, VAT (half up, once on the net total) and gross.
contract ComputeChargeTest is BaseTest {
    /// @dev One PerUnit meter at 1 price unit per unit, priceDecimals 0: the usage is the net amount.
    function _terms(VatCategory category, uint16 rate) internal pure returns (Terms memory t) {
        t = _baseTerms();
        t.priceDecimals = 0;
        t.meters = new Meter[](1);
        t.meters[0] = _perUnitMeter(1);
        t.vatCategory = category;
        t.vatRate = rate;
    }

    function _one(uint64 u) internal pure returns (uint64[] memory usage) {
        usage = new uint64[](1);
        usage[0] = u;
    }

    function _charge(Terms memory t, uint64 net) internal view returns (uint256, uint256, uint256) {
        return factory.computeCharge(t, _one(net));
    }

    function test_Standard19_NetVatGross() public view {
        Terms memory t = _terms(VatCategory.Standard, 1900);
        (uint256 net, uint256 vat, uint256 gross) = _charge(t, 14_000_000); // 140,000.00 EUR net
        assertEq(net, 14_000_000);
        assertEq(vat, 2_660_000);
        assertEq(gross, 16_660_000);
        assertEq(factory.computeAmount(t, _one(14_000_000)), gross);
    }

    function test_VatRoundsHalfUpOnce() public view {
        Terms memory t = _terms(VatCategory.Standard, 1900);
        (, uint256 vat,) = _charge(t, 50); // 0.50 × 19 % = 0.095 → 0.10
        assertEq(vat, 10);
        (, vat,) = _charge(t, 1); // 0.0019 → 0.00
        assertEq(vat, 0);
        t.vatRate = 5000; // 50 %: 0.01 → 0.005 → 0.01 (half up)
        (, vat,) = _charge(t, 1);
        assertEq(vat, 1);
        t.vatRate = 4999; // 0.004999 → 0.00
        (, vat,) = _charge(t, 1);
        assertEq(vat, 0);
        t.vatRate = 700; // 7 %: 12.34 → 0.8638 → 0.86
        (, vat,) = _charge(t, 1234);
        assertEq(vat, 86);
    }

    function test_VatOnTheNetAfterMinimumAndCap() public view {
        Terms memory t = _terms(VatCategory.Standard, 1900);
        t.minimumCommitment = 10_000;
        t.cap = 20_000;
        (uint256 net, uint256 vat, uint256 gross) = _charge(t, 5);
        assertEq(net, 10_000);
        assertEq(vat, 1900);
        assertEq(gross, 11_900);
        (net, vat, gross) = _charge(t, 50_000);
        assertEq(net, 20_000);
        assertEq(vat, 3800);
        assertEq(gross, 23_800);
    }

    function test_ZeroNetHasZeroVat() public view {
        (uint256 net, uint256 vat, uint256 gross) = _charge(_terms(VatCategory.Standard, 10_000), 0);
        assertEq(net, 0);
        assertEq(vat, 0);
        assertEq(gross, 0);
    }

    function test_EveryOtherCategoryChargesNoVat() public view {
        for (uint8 c = 1; c <= uint8(VatCategory.OutsideScope); ++c) {
            (uint256 net, uint256 vat, uint256 gross) = _charge(_terms(VatCategory(c), 0), 12_345);
            assertEq(net, 12_345);
            assertEq(vat, 0);
            assertEq(gross, 12_345);
        }
    }

    function test_RevertWhen_StandardWithoutRate() public {
        vm.expectRevert(
            abi.encodeWithSelector(ITermsErrors.Terms_InvalidVatRate.selector, VatCategory.Standard, uint16(0))
        );
        factory.encodeTerms(_terms(VatCategory.Standard, 0));
    }

    function test_RevertWhen_StandardAbove100Percent() public {
        factory.encodeTerms(_terms(VatCategory.Standard, 10_000));
        vm.expectRevert(
            abi.encodeWithSelector(ITermsErrors.Terms_InvalidVatRate.selector, VatCategory.Standard, uint16(10_001))
        );
        factory.encodeTerms(_terms(VatCategory.Standard, 10_001));
    }

    function test_RevertWhen_RateWithOtherCategory() public {
        for (uint8 c = 1; c <= uint8(VatCategory.OutsideScope); ++c) {
            vm.expectRevert(
                abi.encodeWithSelector(ITermsErrors.Terms_InvalidVatRate.selector, VatCategory(c), uint16(1900))
            );
            factory.encodeTerms(_terms(VatCategory(c), 1900));
        }
    }

    function test_RevertWhen_VatCheckedAfterCapBelowMinimum() public {
        Terms memory t = _terms(VatCategory.Standard, 0);
        (t.minimumCommitment, t.cap) = (10, 9);
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapBelowMinimum.selector, uint96(9), uint96(10)));
        factory.encodeTerms(t);
    }

    function test_RevertWhen_CapPlusVatExceeds96Bits() public {
        Terms memory t = _terms(VatCategory.Standard, 1900);
        t.cap = type(uint96).max;
        uint256 most = uint256(type(uint96).max) + (uint256(type(uint96).max) * 1900 + 5000) / 10_000;
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most));
        factory.computeCharge(t, _one(1));
        vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most));
        vm.prank(operator);
        factory.createAgreement(payer, payee, t, bytes32(0));
        // The largest cap whose gross fits: cap + VAT ≤ 2^96 - 1.
        t.cap = uint96((uint256(type(uint96).max) * 10_000) / 11_900);
        t.meters[0].price = type(uint96).max; // any usage reaches the cap
        (uint256 net, uint256 vat, uint256 gross) = factory.computeCharge(t, _one(type(uint64).max));
        assertEq(net, t.cap);
        assertEq(gross, net + vat);
        assertLe(gross, type(uint96).max);
    }
}
