// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Pricing} from "../../../contracts/libraries/Pricing.sol";
import {TermsCodec} from "../../../contracts/libraries/TermsCodec.sol";
import {Terms} from "../../../contracts/types/BillingTypes.sol";

/// @notice `Pricing` on validated terms without the factory's 96-bit bound (`Terms_CapRequired`), so tests can compare
///         the arithmetic with references above 2^96 and check `maxAmount` against amounts.
contract PricingHarness {
    /// @notice `Pricing.amount`: the uncapped-to-96-bits amount `settle` and `computeAmount` compute.
    function amount(Terms calldata t, uint64[] calldata usage) external pure returns (uint256) {
        bytes memory packed = TermsCodec.encode(t);
        (uint256 usage0, uint256 usage1) = Pricing.usageWords(usage);
        return Pricing.amount(TermsCodec.pointer(packed, 0), usage0, usage1);
    }

    /// @notice `Pricing.maxAmount`: the largest amount the terms can produce, before the cap.
    function maxAmount(Terms calldata t) external pure returns (uint256) {
        bytes memory packed = TermsCodec.encode(t);
        return Pricing.maxAmount(TermsCodec.pointer(packed, 0));
    }
}
