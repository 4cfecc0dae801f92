// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title PartySignature
/// @notice Whether a signature is `signer`'s: ECDSA for accounts without code, ERC-1271 for contract wallets
///         (Safe and others).
/// @dev The calldata variant of OpenZeppelin 5.7's `SignatureChecker.isValidSignatureNowCalldata` (MIT), copied
///      because OpenZeppelin's file also holds memory variants that use MCOPY, which the shanghai target this
///      project compiles for does not have, so the file cannot be imported at all.
library PartySignature {
    function isValidNowCalldata(address signer, bytes32 hash, bytes calldata signature) internal view returns (bool) {
        if (signer.code.length == 0) {
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
            return err == ECDSA.RecoverError.NoError && recovered == signer;
        }
        return isValidERC1271NowCalldata(signer, hash, signature);
    }

    function isValidERC1271NowCalldata(address signer, bytes32 hash, bytes calldata signature)
        internal
        view
        returns (bool result)
    {
        bytes4 selector = IERC1271.isValidSignature.selector;
        uint256 length = signature.length;
        assembly ("memory-safe") {
            // isValidSignature(bytes32,bytes) calldata, built in free memory (not allocated: used only here):
            // selector ‖ hash ‖ offset 0x40 ‖ length ‖ signature, zero-padded to a word.
            let ptr := mload(0x40)
            mstore(ptr, selector)
            mstore(add(ptr, 0x04), hash)
            mstore(add(ptr, 0x24), 0x40)
            mstore(add(ptr, 0x44), length)
            calldatacopy(add(ptr, 0x64), signature.offset, length)
            mstore(add(add(ptr, 0x64), length), 0)
            length := shl(5, shr(5, add(length, 0x1F)))
            let success := staticcall(gas(), signer, ptr, add(length, 0x64), 0x00, 0x20)
            result := and(success, and(gt(returndatasize(), 0x1f), eq(mload(0x00), selector)))
        }
    }
}
