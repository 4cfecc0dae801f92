// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Test} from "forge-std/Test.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {TestToken} from "../../contracts/mocks/TestToken.sol";

contract TestTokenTest is Test {
    TestToken internal token;
    address internal holder = makeAddr("holder");

    function setUp() public {
        token = new TestToken("Euro Test Token", "EURT", 2);
    }

    function test_Decimals() public view {
        assertEq(token.decimals(), 2);
    }

    function test_MintByOwner() public {
        token.mint(holder, 12_345);
        assertEq(token.balanceOf(holder), 12_345);
    }

    function test_RevertWhen_MintByStranger() public {
        vm.prank(holder);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, holder));
        token.mint(holder, 1);
    }

    function testFuzz_MintAddsUp(uint128 a, uint128 b) public {
        token.mint(holder, a);
        token.mint(holder, b);
        assertEq(token.totalSupply(), uint256(a) + uint256(b));
    }
}
