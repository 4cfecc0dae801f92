// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../utils/BaseTest.sol";
import {BillingAgreement} from "../../../contracts/BillingAgreement.sol";
import {Meter, PriceModel, Terms, Tier, VatCategory} from "../../../contracts/types/BillingTypes.sol";

// Lint exceptions in this file, each deliberate (forge lint):
// - unsafe-typecast: test inputs are derived from random words by narrowing on purpose.
// forge-lint: disable-start(unsafe-typecast)
/// @notice Packing then decoding gives the same terms (arbiter and VAT included); the packed length follows the
///         layout.
contract TermsCodecFuzzTest is BaseTest {
    function testFuzz_RoundTrip(uint256 seed, uint8 meterCount) public {
        Terms memory t = _baseTerms();
        t.priceDecimals = uint8(seed % 19);
        // Minimum below 2^94 and cap 2^95 - 1: with up to 100 % VAT the gross still fits 96 bits.
        t.minimumCommitment = uint96(seed >> 8) >> 2;
        t.cap = seed % 2 == 0 ? 0 : type(uint96).max >> 1;
        // Every VAT category; Standard with a rate of 0.01 % to 100 %, the others with 0.
        t.vatCategory = VatCategory((seed >> 160) % 7);
        t.vatRate = t.vatCategory == VatCategory.Standard ? uint16(1 + (seed >> 168) % 10_000) : 0;
        t.noticeSeconds = uint32(seed >> 40);
        t.graceSeconds = uint32(seed >> 72);
        t.disputeWindowSeconds = uint32(seed >> 104);
        t.paymentTermsDays = uint16(seed >> 136);
        // Half of the runs name an arbiter (20 bytes after the meters).
        if ((seed >> 152) % 2 == 1) t.arbiter = address(uint160(uint256(keccak256(abi.encode(seed, "arbiter")))));
        // Without a cap, prices stay below 2^24 so no period can exceed 96 bits (else `Terms_CapRequired`).
        uint256 priceMask = t.cap == 0 ? 0xffffff : type(uint96).max;
        uint256 n = 1 + meterCount % 8;
        t.meters = new Meter[](n);
        uint256 expectedLength = t.arbiter == address(0) ? 83 : 103;
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            Meter memory m;
            m.model = PriceModel(r % 5);
            if (m.model != PriceModel.Flat) m.included = uint64(r >> 8);
            if (m.model == PriceModel.Graduated || m.model == PriceModel.Volume) {
                uint256 k = 1 + (r >> 80) % 8;
                m.tiers = new Tier[](k);
                for (uint256 j; j < k; ++j) {
                    m.tiers[j] = Tier(
                        j == k - 1 ? type(uint64).max : uint64((j + 1) * (1 + (r >> 100) % 1e6)),
                        uint96((r >> (j * 8)) & priceMask),
                        uint96((r >> (j * 16)) & priceMask)
                    );
                }
                expectedLength += 10 + 32 * k;
            } else {
                m.price = uint96((r >> 120) & priceMask);
                if (m.model == PriceModel.Package) {
                    m.packageSize = uint64(1 + (r >> 200) % type(uint32).max);
                    expectedLength += 29;
                } else {
                    expectedLength += 21;
                }
            }
            t.meters[i] = m;
        }
        (bytes memory packed, bytes32 h) = factory.encodeTerms(t);
        assertEq(packed.length, expectedLength);
        assertEq(h, keccak256(packed));

        vm.prank(operator);
        BillingAgreement a = BillingAgreement(factory.createAgreement(payer, payee, t, bytes32(seed)));
        (Terms memory back,) = a.terms();
        assertEq(keccak256(abi.encode(back)), keccak256(abi.encode(t)));
        (, bytes32 h1,) = a.termsAt(1);
        assertEq(h1, h);
    }
}
// forge-lint: disable-end(unsafe-typecast)
