// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";

/// @title EIP712
/// @notice EIP-712 domain separation for the agreement clones: name "Settle BillingAgreement", version "1", the
///         current chain id and the clone's address as verifying contract.
/// @dev Replaces OpenZeppelin 5.7's `EIP712`, which this project cannot import: its import chain (MessageHashUtils →
///      Strings → Bytes) uses MCOPY, which the shanghai target does not have. The behaviour is the same for
///      clones: OpenZeppelin caches the separator only for the deploying contract (the implementation) and
///      rebuilds it for every clone and after a chain id change (fork); this contract always builds it, which
///      costs one keccak of 160 bytes and keeps the code small.
abstract contract EIP712 is IERC5267 {
    string private constant NAME = "Settle BillingAgreement";
    string private constant VERSION = "1";
    bytes32 private constant TYPE_HASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256(bytes(NAME));
    bytes32 private constant VERSION_HASH = keccak256(bytes(VERSION));

    /// @inheritdoc IERC5267
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        return (hex"0f", NAME, VERSION, block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    /// @dev The domain separator for this contract (the clone) and the current chain.
    function _domainSeparatorV4() internal view returns (bytes32) {
        return keccak256(abi.encode(TYPE_HASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @dev keccak256("\x19\x01" ‖ domainSeparator ‖ structHash).
    function _hashTypedDataV4(bytes32 structHash) internal view returns (bytes32 digest) {
        bytes32 domainSeparator = _domainSeparatorV4();
        assembly ("memory-safe") {
            // Free memory used as scratch (not allocated, nothing else runs while it is used).
            let ptr := mload(0x40)
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), domainSeparator)
            mstore(add(ptr, 0x22), structHash)
            digest := keccak256(ptr, 0x42)
        }
    }
}
