// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../utils/BaseTest.sol";
import {PricingHarness} from "../utils/PricingHarness.sol";
import {ITermsErrors} from "../../../contracts/interfaces/ITermsErrors.sol";
import {Meter, PriceModel, Terms, Tier} from "../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - divide-before-multiply: the reference charges per started package, as the contract must.
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(divide-before-multiply, unsafe-typecast)
/// @notice The pricing code (through `computeAmount`, the code `settle` runs, and through `PricingHarness` for amounts
///         above 96 bits, which `computeAmount` refuses without a cap) against straightforward references written here
///         from docs/terms-encoding.md; and `Terms_CapRequired` against the largest amount the terms can produce.
contract PricingFuzzTest is BaseTest {
    uint256 internal constant U64 = type(uint64).max;
    uint256 internal constant U96 = type(uint96).max;

    PricingHarness internal pricer;

    error NoTier();

    function setUp() public override {
        super.setUp();
        pricer = new PricingHarness();
    }

    // ------------------------------------------------------------------------------------------------------------
    // References
    // ------------------------------------------------------------------------------------------------------------

    function _refMeter(Meter memory m, uint256 usage) internal pure returns (uint256) {
        uint256 billable = usage > m.included ? usage - m.included : 0;
        if (m.model == PriceModel.Flat) return m.price;
        if (billable == 0) return 0;
        if (m.model == PriceModel.PerUnit) return billable * m.price;
        if (m.model == PriceModel.Package) return ((billable + m.packageSize - 1) / m.packageSize) * m.price;
        if (m.model == PriceModel.Graduated) {
            uint256 total;
            uint256 lower;
            for (uint256 i; i < m.tiers.length; ++i) {
                if (billable > lower) {
                    uint256 top = billable < m.tiers[i].upTo ? billable : m.tiers[i].upTo;
                    total += (top - lower) * m.tiers[i].unitPrice + m.tiers[i].flatFee;
                }
                lower = m.tiers[i].upTo;
            }
            return total;
        }
        for (uint256 i; i < m.tiers.length; ++i) {
            if (billable <= m.tiers[i].upTo) return billable * m.tiers[i].unitPrice + m.tiers[i].flatFee;
        }
        revert NoTier(); // unreachable for valid terms: the last tier is unbounded
    }

    function _refAmount(Terms memory t, uint64[] memory usage) internal pure returns (uint256 amount) {
        uint256 subtotal;
        for (uint256 i; i < t.meters.length; ++i) {
            subtotal += _refMeter(t.meters[i], usage[i]);
        }
        uint256 scale = 10 ** t.priceDecimals;
        amount = (subtotal + scale / 2) / scale;
        if (amount < t.minimumCommitment) amount = t.minimumCommitment;
        if (t.cap != 0 && amount > t.cap) amount = t.cap;
    }

    /// @dev Unit by unit: each billable unit costs the price of the tier it falls in (Graduated) or of the tier the
    ///      total falls in (Volume); fees once per reached tier (Graduated) or once (Volume). Small usage only.
    function _unitByUnit(Meter memory m, uint256 billable) internal pure returns (uint256 total) {
        if (billable == 0) return 0;
        if (m.model == PriceModel.Volume) {
            uint256 k;
            while (billable > m.tiers[k].upTo) ++k;
            for (uint256 u = 1; u <= billable; ++u) {
                total += m.tiers[k].unitPrice;
            }
            return total + m.tiers[k].flatFee;
        }
        uint256 tier;
        bool[] memory reached = new bool[](m.tiers.length);
        for (uint256 u = 1; u <= billable; ++u) {
            while (u > m.tiers[tier].upTo) ++tier;
            total += m.tiers[tier].unitPrice;
            reached[tier] = true;
        }
        for (uint256 i; i < reached.length; ++i) {
            if (reached[i]) total += m.tiers[i].flatFee;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Builders
    // ------------------------------------------------------------------------------------------------------------

    /// @dev `count` (1..8) ascending tiers from `seed`, the last unbounded; `small` keeps bounds below ~2,000.
    function _tiers(uint256 seed, uint256 count, bool small) internal pure returns (Tier[] memory tiers) {
        tiers = new Tier[](count);
        uint256 upTo;
        for (uint256 i; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            if (i == count - 1) {
                upTo = U64;
            } else {
                uint256 step = small ? 1 + r % 250 : 1 + r % (U64 / 16);
                upTo = upTo + step;
            }
            tiers[i] = Tier(uint64(upTo), uint96(small ? r >> 160 & 0xffff : r >> 96), uint96(r >> 200 & 0xffffff));
        }
    }

    function _meter(uint256 seed, uint8 model, bool small) internal pure returns (Meter memory m) {
        uint256 r = uint256(keccak256(abi.encode(seed, "meter")));
        m.model = PriceModel(model % 5);
        if (m.model != PriceModel.Flat) m.included = uint64(small ? r % 100 : r % U64);
        if (m.model == PriceModel.Graduated || m.model == PriceModel.Volume) {
            m.tiers = _tiers(r, 1 + (r >> 64) % 8, small);
        } else {
            m.price = uint96(r >> 100);
            if (m.model == PriceModel.Package) m.packageSize = uint64(1 + (r >> 200) % (small ? 1000 : U64));
        }
    }

    /// @dev The most the terms charge before the cap (reference): the largest uncapped reference amount over the
    ///      usages where a meter's charge can peak (2^64 − 1, and for Volume the top of each tier), meter by meter
    ///      (meters are charged independently, so their peaks add up).
    function _refMax(Terms memory t) internal pure returns (uint256) {
        uint256 subtotal;
        for (uint256 i; i < t.meters.length; ++i) {
            Meter memory m = t.meters[i];
            uint256 most = _refMeter(m, U64);
            for (uint256 j; j < m.tiers.length; ++j) {
                uint256 at = uint256(m.included) + m.tiers[j].upTo;
                if (at <= U64) {
                    uint256 c = _refMeter(m, at);
                    if (c > most) most = c;
                }
            }
            subtotal += most;
        }
        uint256 scale = 10 ** t.priceDecimals;
        uint256 amount = (subtotal + scale / 2) / scale;
        return amount < t.minimumCommitment ? t.minimumCommitment : amount;
    }

    /// @dev The arithmetic against the reference (uncapped to 96 bits), then `computeAmount`: the same amount, or
    ///      `Terms_CapRequired` with the reference's most when the terms have no cap and could exceed 2^96 − 1.
    function _check(Terms memory t, uint64[] memory usage) internal {
        uint256 expected = _refAmount(t, usage);
        assertEq(pricer.amount(t, usage), expected, "amount");
        uint256 most = _refMax(t);
        assertEq(pricer.maxAmount(t), most, "maxAmount");
        if (t.cap == 0) assertLe(expected, most, "amount above maxAmount");
        if (t.cap == 0 && most > U96) {
            vm.expectRevert(abi.encodeWithSelector(ITermsErrors.Terms_CapRequired.selector, most));
            factory.computeAmount(t, usage);
        } else {
            assertEq(factory.computeAmount(t, usage), expected, "computeAmount");
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Fuzz tests
    // ------------------------------------------------------------------------------------------------------------

    function testFuzz_MatchesReference(uint256 seed, uint8 meterCount, uint8 priceDecimals, uint64[8] memory raw)
        public
    {
        Terms memory t = _baseTerms();
        uint256 n = 1 + meterCount % 8;
        t.priceDecimals = priceDecimals % 19;
        t.meters = new Meter[](n);
        uint64[] memory usage = new uint64[](n);
        for (uint256 i; i < n; ++i) {
            t.meters[i] = _meter(uint256(keccak256(abi.encode(seed, i))), uint8(seed >> (8 * i)), false);
            usage[i] = raw[i];
        }
        _check(t, usage);
    }

    function testFuzz_MinimumAndCap(uint64 usage, uint96 minimum, uint96 cap) public view {
        // The graduated meter's most is (1000 + 9000 × 0.80 + (2^64 − 10001) × 0.50) EUR, far below 2^96: no cap
        // needed.
        Terms memory t = _fiatTerms();
        t.minimumCommitment = minimum;
        t.cap = cap == 0 || cap >= minimum ? cap : minimum;
        uint64[] memory u = new uint64[](1);
        u[0] = usage;
        uint256 amount = factory.computeAmount(t, u);
        assertEq(amount, _refAmount(t, u));
        assertGe(amount, t.cap == 0 ? minimum : (minimum < t.cap ? minimum : t.cap));
        if (t.cap != 0) assertLe(amount, t.cap);
    }

    function testFuzz_TierBoundaries(uint256 seed, uint8 tierIndex, int8 offset, bool volume) public {
        Terms memory t = _baseTerms();
        t.meters = new Meter[](1);
        t.meters[0].model = volume ? PriceModel.Volume : PriceModel.Graduated;
        t.meters[0].tiers = _tiers(seed, 1 + seed % 8, false);
        uint256 k = tierIndex % t.meters[0].tiers.length;
        uint256 at = t.meters[0].tiers[k].upTo;
        int256 q = int256(at) + (offset % 3);
        if (q < 0) q = 0;
        if (q > int256(U64)) q = int256(U64);
        uint64[] memory u = new uint64[](1);
        u[0] = uint64(uint256(q));
        _check(t, u);
    }

    function testFuzz_UnitByUnit(uint256 seed, uint16 usage, uint8 included, bool volume) public view {
        Terms memory t = _baseTerms();
        t.priceDecimals = 0;
        t.meters = new Meter[](1);
        t.meters[0].model = volume ? PriceModel.Volume : PriceModel.Graduated;
        t.meters[0].included = included;
        t.meters[0].tiers = _tiers(seed, 1 + seed % 8, true);
        uint256 u = usage % 2000;
        uint256 billable = u > included ? u - included : 0;
        uint64[] memory arr = new uint64[](1);
        arr[0] = uint64(u);
        assertEq(pricer.amount(t, arr), _unitByUnit(t.meters[0], billable));
    }

    function testFuzz_PackageRoundsUp(uint64 usage, uint64 included, uint64 packageSize, uint96 price) public view {
        Terms memory t = _baseTerms();
        t.priceDecimals = 0;
        t.meters = new Meter[](1);
        t.meters[0].model = PriceModel.Package;
        t.meters[0].included = included;
        t.meters[0].packageSize = packageSize == 0 ? 1 : packageSize;
        t.meters[0].price = price;
        uint64[] memory u = new uint64[](1);
        u[0] = usage;
        uint256 amount = pricer.amount(t, u);
        assertEq(amount, _refAmount(t, u));
        uint256 billable = usage > included ? usage - included : 0;
        // Packages cover the usage, and one package fewer would not.
        uint256 packages = price == 0 ? 0 : amount / price;
        if (price != 0) {
            assertGe(packages * t.meters[0].packageSize, billable);
            if (packages != 0) assertLt((packages - 1) * t.meters[0].packageSize, billable);
        }
    }

    function testFuzz_RoundingHalfUpOnce(uint64 usage, uint96 price, uint8 priceDecimals) public view {
        Terms memory t = _baseTerms();
        t.priceDecimals = priceDecimals % 19;
        t.meters = new Meter[](1);
        t.meters[0] = _perUnitMeter(price);
        uint64[] memory u = new uint64[](1);
        u[0] = usage;
        uint256 amount = pricer.amount(t, u);
        uint256 exact = uint256(usage) * price;
        uint256 scale = 10 ** t.priceDecimals;
        // |amount × scale − exact| ≤ scale / 2, ties rounded up.
        if (amount * scale >= exact) assertLe(amount * scale - exact, scale / 2);
        else assertLt(exact - amount * scale, scale - scale / 2);
    }

    function testFuzz_NearTypeLimits(uint8 meterCount) public {
        Terms memory t = _baseTerms();
        t.priceDecimals = 0;
        uint256 n = 1 + meterCount % 8;
        t.meters = new Meter[](n);
        uint64[] memory u = new uint64[](n);
        for (uint256 i; i < n; ++i) {
            t.meters[i].model = PriceModel.Graduated;
            t.meters[i].tiers = new Tier[](8);
            for (uint256 j; j < 8; ++j) {
                t.meters[i].tiers[j] =
                    Tier(j == 7 ? type(uint64).max : uint64(j + 1), type(uint96).max, type(uint96).max);
            }
            u[i] = type(uint64).max;
        }
        _check(t, u); // far above 2^96: Terms_CapRequired from computeAmount
        t.cap = type(uint96).max;
        _check(t, u); // capped: the cap
    }

    function testFuzz_CappedNeverAboveCap(uint256 seed, uint8 meterCount, uint96 cap, uint64[8] memory raw)
        public
        view
    {
        Terms memory t = _baseTerms();
        t.priceDecimals = uint8(seed % 19);
        t.cap = cap == 0 ? 1 : cap;
        uint256 n = 1 + meterCount % 8;
        t.meters = new Meter[](n);
        uint64[] memory usage = new uint64[](n);
        for (uint256 i; i < n; ++i) {
            t.meters[i] = _meter(uint256(keccak256(abi.encode(seed, i))), uint8(seed >> (8 * i)), false);
            usage[i] = raw[i];
        }
        // With a cap every terms are accepted, and no amount exceeds it.
        uint256 amount = factory.computeAmount(t, usage);
        uint256 capped = t.cap;
        assertLe(amount, capped);
        t.cap = 0;
        uint256 uncapped = _refAmount(t, usage);
        assertEq(amount, uncapped < capped ? uncapped : capped);
    }

    function testFuzz_MaxAmountIsReached(uint256 seed, uint8 priceDecimals, bool volume) public view {
        // One tiered meter: the most is what some usage actually costs (the peak `_refMax` takes).
        Terms memory t = _baseTerms();
        t.priceDecimals = priceDecimals % 19;
        t.meters = new Meter[](1);
        t.meters[0].model = volume ? PriceModel.Volume : PriceModel.Graduated;
        t.meters[0].included = uint64(seed % 1000);
        t.meters[0].tiers = _tiers(seed, 1 + seed % 8, false);
        uint256 most = pricer.maxAmount(t);
        uint64[] memory u = new uint64[](1);
        bool reached;
        u[0] = type(uint64).max;
        if (pricer.amount(t, u) == most) reached = true;
        for (uint256 j; j < t.meters[0].tiers.length && !reached; ++j) {
            uint256 at = uint256(t.meters[0].included) + t.meters[0].tiers[j].upTo;
            if (at > U64) continue;
            u[0] = uint64(at);
            if (pricer.amount(t, u) == most) reached = true;
        }
        assertTrue(reached, "maxAmount not reached at any tier top");
    }
}
// forge-lint: disable-end(divide-before-multiply, unsafe-typecast)
