// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BaseTest} from "../../utils/BaseTest.sol";
import {IAgreementFactory} from "../../../../contracts/interfaces/IAgreementFactory.sol";
import {Terms} from "../../../../contracts/types/BillingTypes.sol";

contract PredictAgreementAddressTest is BaseTest {
    function test_DependsOnPartiesTermsAndSalt() public view {
        Terms memory t = _fiatTerms();
        address base = factory.predictAgreementAddress(payer, payee, t, bytes32(0));
        assertTrue(base != factory.predictAgreementAddress(payer, payee, t, bytes32(uint256(1))));
        assertTrue(base != factory.predictAgreementAddress(payee, payer, t, bytes32(0)));
        t.paymentTermsDays = 30;
        assertTrue(base != factory.predictAgreementAddress(payer, payee, t, bytes32(0)));
    }

    function test_RevertWhen_PartiesInvalid() public {
        Terms memory t = _fiatTerms();
        vm.expectRevert(
            abi.encodeWithSelector(IAgreementFactory.AgreementFactory_InvalidParties.selector, payer, payer)
        );
        factory.predictAgreementAddress(payer, payer, t, bytes32(0));
    }
}
