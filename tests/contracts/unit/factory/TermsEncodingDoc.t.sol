// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {MockToken} from "../../../../contracts/mocks/MockToken.sol";
import {IntervalKind, Meter, PriceModel, Terms, Tier, VatCategory} from "../../../../contracts/types/BillingTypes.sol";

/// @notice The examples of docs/terms-encoding.md, reproduced on-chain: the worked example of "Amount of one period"
///         and the "Test vector" (its packed bytes, termsHash, meter amounts, subtotal and amount). The Python
///         reference model checks the same figures (tests/test_terms.py, tests/test_pricing.py), so a change to the
///         layout or the pricing that breaks the doc fails here.
contract TermsEncodingDocTest is BaseTest {
    /// @dev The test vector's token: the first contract anvil's default deployer creates.
    address internal constant DOC_TOKEN = 0x5FbDB2315678afecb367f032d93F642f64180aa3;

    function setUp() public override {
        super.setUp();
        // A 2-decimal token at the doc's address, allow-listed, so `encodeTerms` accepts the terms as they are.
        vm.etch(DOC_TOKEN, address(new MockToken(2)).code);
        vm.prank(admin);
        factory.setTokenAllowed(DOC_TOKEN, true);
    }

    function _docTerms() internal pure returns (Terms memory t) {
        t.token = DOC_TOKEN;
        t.currency = "EUR";
        t.minorDigits = 2;
        t.priceDecimals = 4;
        t.intervalKind = IntervalKind.CalendarMonth;
        t.interval = 1;
        t.start = 1_735_689_600; // 2025-01-01
        t.end = 1_767_225_600; // 2026-01-01
        t.noticeSeconds = 2_592_000;
        t.paymentTermsDays = 14;
        t.graceSeconds = 259_200;
        t.disputeWindowSeconds = 2_592_000;
        t.minimumCommitment = 10_000;
        t.cap = 1_000_000;
        t.vatCategory = VatCategory.Standard;
        t.vatRate = 1900; // 19.00 %
        t.meters = new Meter[](5);
        t.meters[0].model = PriceModel.Flat;
        t.meters[0].price = 4_900_000;
        t.meters[1].model = PriceModel.Graduated;
        t.meters[1].included = 1000;
        t.meters[1].tiers = new Tier[](3);
        t.meters[1].tiers[0] = Tier(10_000, 50, 0);
        t.meters[1].tiers[1] = Tier(100_000, 30, 5000);
        t.meters[1].tiers[2] = Tier(type(uint64).max, 10, 0);
        t.meters[2].model = PriceModel.Volume;
        t.meters[2].tiers = new Tier[](2);
        t.meters[2].tiers[0] = Tier(1000, 20, 100);
        t.meters[2].tiers[1] = Tier(type(uint64).max, 15, 0);
        t.meters[3].model = PriceModel.PerUnit;
        t.meters[3].included = 5;
        t.meters[3].price = 7;
        t.meters[4].model = PriceModel.Package;
        t.meters[4].packageSize = 100;
        t.meters[4].price = 25_000;
    }

    function _docUsage() internal pure returns (uint64[] memory u) {
        u = new uint64[](5);
        (u[0], u[1], u[2], u[3], u[4]) = (0, 10_100_000, 1500, 1005, 250);
    }

    function test_TestVectorPackedBytesAndHash() public view {
        (bytes memory packed, bytes32 h) = factory.encodeTerms(_docTerms());
        bytes memory expected = bytes.concat(
            hex"5fbdb2315678afecb367f032d93f642f64180aa3455552020400000000010067748580006955b90000278d00000e0003f48000278d000000000000000000000027100000000000000000000f4240000500076c",
            hex"0000000000000000000000000000000000004ac4a00200000000000003e803000000000000271000000000000000000000003200000000000000",
            hex"000000000000000000000186a000000000000000000000001e000000000000000000001388ffffffffffffffff00000000000000000000000a00"
        );
        expected = bytes.concat(
            expected,
            hex"00000000000000000000000300000000000000000200000000000003e8000000000000000000000014000000000000000000000064ffffffffff",
            hex"ffffff00000000000000000000000f00000000000000000000000001000000000000000500000000000000000000000704000000000000000000",
            hex"000000000000640000000000000000000061a8"
        );
        assertEq(packed.length, 334);
        assertEq(packed, expected);
        assertEq(h, 0x4e73d868047955c5867eb1430083d3f19d985dee236e554a19c8a85d9c14273a);
    }

    function test_TestVectorAmount() public view {
        // Net 108.20 EUR, VAT 19 % of it: 20.558 → 20.56 EUR (half up), settlement amount 128.76 EUR.
        (uint256 net, uint256 vat, uint256 gross) = factory.computeCharge(_docTerms(), _docUsage());
        assertEq(net, 10_820);
        assertEq(vat, 2056);
        assertEq(gross, 12_876);
        assertEq(factory.computeAmount(_docTerms(), _docUsage()), 12_876);
    }

    function test_TestVectorMeterAmountsAndSubtotal() public view {
        // Each meter alone, in price units: priceDecimals 0 (nothing rounded), no minimum, no cap.
        uint256[5] memory expected = [uint256(4_900_000), 103_195_000, 22_500, 7000, 75_000];
        Terms memory all = _docTerms();
        uint64[] memory usage = _docUsage();
        uint256 subtotal;
        for (uint256 i; i < 5; ++i) {
            Terms memory t = _docTerms();
            (t.priceDecimals, t.minimumCommitment, t.cap) = (0, 0, 0);
            t.meters = new Meter[](1);
            t.meters[0] = all.meters[i];
            uint64[] memory one = new uint64[](1);
            one[0] = usage[i];
            (uint256 net,,) = factory.computeCharge(t, one);
            assertEq(net, expected[i]);
            subtotal += expected[i];
        }
        assertEq(subtotal, 108_199_500);
        (all.priceDecimals, all.minimumCommitment, all.cap) = (0, 0, 0);
        (uint256 subtotalOnChain,,) = factory.computeCharge(all, usage);
        assertEq(subtotalOnChain, 108_199_500);
        // Rounded once, half up, at priceDecimals 4: 10,819.95 → 10,820.
        all.priceDecimals = 4;
        (uint256 rounded,,) = factory.computeCharge(all, usage);
        assertEq(rounded, 10_820);
    }

    function test_WorkedExample() public view {
        // One graduated meter (1.00, 0.80, 0.50 EUR), usage 10,005: 82,025,000 price units, 820,250 minor units.
        Terms memory t = _fiatTerms();
        uint64[] memory u = new uint64[](1);
        u[0] = 10_005;
        assertEq(factory.computeAmount(t, u), 820_250);
        t.priceDecimals = 0;
        assertEq(factory.computeAmount(t, u), 82_025_000);
    }
}
