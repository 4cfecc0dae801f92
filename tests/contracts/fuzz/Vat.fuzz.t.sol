// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../utils/BaseTest.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../contracts/interfaces/IBillingAgreement.sol";
import {Meter, Settlement, Terms, VatCategory} from "../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: test inputs are narrowed from fuzzed words on purpose.
// forge-lint: disable-start(unsafe-typecast)
/// @notice VAT arithmetic against a reference written here: VAT = round half up (net × rate / 10000), once on the
///         period's net total; gross = net + VAT; `settle` bills the gross and its event carries net and VAT.
contract VatFuzzTest is BaseTest {
    function _terms(uint96 price, uint16 rate, uint8 priceDecimals) internal pure returns (Terms memory t) {
        t = _baseTerms();
        t.priceDecimals = priceDecimals;
        t.meters = new Meter[](1);
        t.meters[0] = _perUnitMeter(price);
        t.vatCategory = rate == 0 ? VatCategory.ZeroRated : VatCategory.Standard;
        t.vatRate = rate;
        t.cap = 1e24; // gross ≤ 2 × 10^24 < 2^96
    }

    /// @dev Reference: exact rational net × rate / 10000, rounded half up (remainder ≥ 5000 rounds up).
    function _vat(uint256 net, uint256 rate) internal pure returns (uint256) {
        uint256 q = (net * rate) / 10_000;
        return (net * rate) % 10_000 >= 5000 ? q + 1 : q;
    }

    function testFuzz_ComputeCharge(uint96 price, uint64 usage, uint16 rate, uint8 priceDecimals) public view {
        rate = uint16(bound(rate, 0, 10_000));
        priceDecimals = uint8(bound(priceDecimals, 0, 6));
        Terms memory t = _terms(uint96(bound(price, 0, 1e12)), rate, priceDecimals);
        uint64[] memory u = new uint64[](1);
        u[0] = usage;
        (uint256 net, uint256 vat, uint256 gross) = factory.computeCharge(t, u);
        uint256 scale = 10 ** priceDecimals;
        uint256 expectedNet = (uint256(usage) * t.meters[0].price + scale / 2) / scale;
        if (expectedNet > t.cap) expectedNet = t.cap;
        assertEq(net, expectedNet, "net");
        assertEq(vat, _vat(net, rate), "vat");
        assertEq(gross, net + vat, "gross");
        assertEq(factory.computeAmount(t, u), gross, "computeAmount");
    }

    function testFuzz_SettleBillsGrossAndEmitsNetAndVat(uint64 usage, uint16 rate) public {
        rate = uint16(bound(rate, 0, 10_000));
        usage = uint64(bound(usage, 1, 1e15));
        Terms memory t = _terms(7, rate, 2);
        BillingAgreement a = _createActive(t);
        uint64[] memory u = new uint64[](1);
        u[0] = usage;
        (uint256 net, uint256 vat, uint256 gross) = factory.computeCharge(t, u);
        vm.warp(START + 1 days);
        _report(a, 0, 0, usage);
        _warpToSettle(a, 0);
        assertEq(a.previewAmount(0), gross);
        vm.expectEmit(address(a));
        emit IBillingAgreement.SettlementTriggered(0, gross, a.dueDate(0), 1, net, vat);
        assertEq(a.settle(0), gross);
        Settlement memory s = a.settlement(0);
        assertEq(s.amount, gross);
        assertEq(a.outstanding(), gross);
    }
}
// forge-lint: disable-end(unsafe-typecast)
