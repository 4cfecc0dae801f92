// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {BillingAgreement} from "../../../../contracts/BillingAgreement.sol";
import {IBillingAgreement} from "../../../../contracts/interfaces/IBillingAgreement.sol";
import {MockERC1271Wallet} from "../../../../contracts/mocks/MockERC1271Wallet.sol";
import {AgreementState, Terms} from "../../../../contracts/types/BillingTypes.sol";

contract AcceptWithSignatureTest is BaseTest {
    BillingAgreement internal a;
    bytes32 internal h;
    uint256 internal deadline;

    function setUp() public override {
        super.setUp();
        a = _create(_fiatTerms());
        h = _hash(_fiatTerms());
        deadline = block.timestamp + 1 days;
    }

    function test_DigestIsEIP712() public view {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Settle BillingAgreement"),
                keccak256("1"),
                block.chainid,
                address(a)
            )
        );
        bytes32 typeHash =
            keccak256("Accept(address party,uint8 role,uint16 version,bytes32 termsHash,uint256 deadline)");
        // The party and its role (1 payer, 2 payee) are part of what is signed.
        bytes32 payerStruct = keccak256(abi.encode(typeHash, payer, uint8(1), uint16(1), h, deadline));
        bytes32 payeeStruct = keccak256(abi.encode(typeHash, payee, uint8(2), uint16(1), h, deadline));
        assertEq(a.acceptDigest(payer, 1, h, deadline), keccak256(abi.encodePacked("\x19\x01", domain, payerStruct)));
        assertEq(a.acceptDigest(payee, 1, h, deadline), keccak256(abi.encodePacked("\x19\x01", domain, payeeStruct)));
        (bytes1 fields, string memory name, string memory version, uint256 chainId, address verifying,,) =
            a.eip712Domain();
        assertEq(fields, hex"0f");
        assertEq(name, "Settle BillingAgreement");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifying, address(a));
    }

    function test_RelayedEOASignatures() public {
        bytes memory sigPayer = _signAccept(a, payerKey, 1, h, deadline);
        bytes memory sigPayee = _signAccept(a, payeeKey, 1, h, deadline);
        vm.startPrank(stranger);
        a.acceptWithSignature(payer, 1, h, deadline, sigPayer);
        a.acceptWithSignature(payee, 1, h, deadline, sigPayee);
        vm.stopPrank();
        assertEq(uint8(a.state()), uint8(AgreementState.Active));
    }

    function test_ContractWalletSignature() public {
        (address owner, uint256 ownerKey) = makeAddrAndKey("safe owner");
        MockERC1271Wallet wallet = new MockERC1271Wallet(owner);
        vm.prank(operator);
        BillingAgreement b = BillingAgreement(factory.createAgreement(address(wallet), payee, _fiatTerms(), bytes32(0)));
        bytes memory sig = _signAcceptFor(b, ownerKey, address(wallet), 1, h, deadline);
        vm.prank(stranger);
        b.acceptWithSignature(address(wallet), 1, h, deadline, sig);
        assertTrue(b.hasAccepted(address(wallet), 1));
    }

    function test_RevertWhen_ContractWalletRejects() public {
        (address owner,) = makeAddrAndKey("safe owner");
        MockERC1271Wallet wallet = new MockERC1271Wallet(owner);
        vm.prank(operator);
        BillingAgreement b = BillingAgreement(factory.createAgreement(address(wallet), payee, _fiatTerms(), bytes32(0)));
        bytes memory sig = _signAcceptFor(b, payerKey, address(wallet), 1, h, deadline); // not the owner's
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, address(wallet))
        );
        b.acceptWithSignature(address(wallet), 1, h, deadline, sig);
    }

    function test_RevertWhen_DeadlinePassed() public {
        bytes memory sig = _signAccept(a, payerKey, 1, h, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_SignatureExpired.selector, deadline));
        a.acceptWithSignature(payer, 1, h, deadline, sig);
    }

    function test_RevertWhen_DigestForNonParty() public {
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotParty.selector, stranger));
        a.acceptDigest(stranger, 1, h, deadline);
    }

    function test_RevertWhen_SignedByOtherKey() public {
        // The payee's key signs the payer's acceptance.
        bytes memory sig = _signAcceptFor(a, payeeKey, payer, 1, h, deadline);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, payer));
        a.acceptWithSignature(payer, 1, h, deadline, sig);
    }

    function test_RevertWhen_SignatureForOtherAgreement() public {
        BillingAgreement b = _create(_fiatTerms(), bytes32(uint256(9)));
        bytes memory sig = _signAccept(b, payerKey, 1, h, deadline);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, payer));
        a.acceptWithSignature(payer, 1, h, deadline, sig);
    }

    function test_RevertWhen_SignatureMalformed() public {
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_InvalidSignature.selector, payer));
        a.acceptWithSignature(payer, 1, h, deadline, hex"1234");
    }

    function test_RevertWhen_SignerNotParty() public {
        (address other, uint256 otherKey) = makeAddrAndKey("other");
        // There is no acceptance digest for a non-party; a signature of the payer's digest does not help either.
        bytes memory sig = _signAcceptFor(a, otherKey, payer, 1, h, deadline);
        vm.expectRevert(abi.encodeWithSelector(IBillingAgreement.BillingAgreement_NotParty.selector, other));
        a.acceptWithSignature(other, 1, h, deadline, sig);
    }

    function test_RevertWhen_Replayed() public {
        bytes memory sig = _signAccept(a, payerKey, 1, h, deadline);
        a.acceptWithSignature(payer, 1, h, deadline, sig);
        vm.expectRevert(
            abi.encodeWithSelector(IBillingAgreement.BillingAgreement_AlreadyAccepted.selector, payer, uint16(1))
        );
        a.acceptWithSignature(payer, 1, h, deadline, sig);
    }
}
